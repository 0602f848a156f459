-- weft language server for Neovim 0.11+ (docs/EDITORS.md). Needs `weft` on PATH;
-- set WEFT_BIN to use another build, e.g. WEFT_BIN=~/src/weft/target/debug/weft nvim.

-- File types. weft files are YAML or JSON, so they get a compound file type: "yaml.weft" keeps
-- Neovim's YAML syntax, indent and ftplugin (and tree-sitter's yaml parser), and only weft attaches.
vim.filetype.add({
  filename = {
    ['weft.yaml'] = 'yaml.weft',
    ['weft.yml'] = 'yaml.weft',
  },
  pattern = {
    ['.*%.workflow%.ya?ml'] = 'yaml.weft',
    ['.*%.plan%.ya?ml'] = 'yaml.weft',
    ['.*%.plan%.json'] = 'json.weft',
    ['.*%.phases%.ya?ml'] = 'yaml.weft',
  },
})

-- Optional: any other .yaml/.yml file is a weft file too when one of its first 50 lines starts
-- with a top-level `workflow_id:`, `plan_id:` or `phases:`; otherwise it stays plain YAML.
local function yaml_or_weft(_, bufnr)
  for _, line in ipairs(bufnr and vim.api.nvim_buf_get_lines(bufnr, 0, 50, false) or {}) do
    if line:match('^workflow_id%s*:') or line:match('^plan_id%s*:') or line:match('^phases%s*:') then
      return 'yaml.weft'
    end
  end
  return 'yaml'
end
vim.filetype.add({ extension = { yaml = yaml_or_weft, yml = yaml_or_weft } })

-- The server: one per project (the nearest folder with a weft.yaml, else the git root).
vim.lsp.config('weft', {
  cmd = { vim.env.WEFT_BIN or 'weft', 'lsp' },
  filetypes = { 'yaml.weft', 'json.weft' },
  root_markers = { 'weft.yaml', '.git' },
  -- Neovim 0.11 neither offers nor handles workspace/codeLens/refresh, which the server sends when
  -- a run changes state: these two make the lenses follow a run ("⏳ running 3 s", then "✓ 1.2 s").
  capabilities = { workspace = { codeLens = { refreshSupport = true } } },
  handlers = {
    ['workspace/codeLens/refresh'] = function(_, _, ctx)
      local client = vim.lsp.get_client_by_id(ctx.client_id)
      for bufnr in pairs(client and client.attached_buffers or {}) do
        vim.lsp.codelens.refresh({ bufnr = bufnr })
      end
      return vim.NIL
    end,
  },
})
vim.lsp.enable('weft')

-- Sessions (phase templates): "▶ Start session" carries no task id and "Complete with override"
-- no reason; these ask for them (vim.ui.input), then send the command to the server. The same
-- commands by hand: :WeftStartSession T-42, :WeftCompletePhase T-42 [override reason].
local function ask_then_execute(prompt, index, needed)
  return function(command, ctx)
    local client = assert(vim.lsp.get_client_by_id(ctx.client_id))
    local arguments = vim.deepcopy(command.arguments or {})
    local function send()
      client:request('workspace/executeCommand', { command = command.command, arguments = arguments }, function(err)
        if err then
          vim.notify('weft: ' .. err.message, vim.log.levels.ERROR)
        end
      end, ctx.bufnr)
    end
    if not needed(arguments) then
      return send()
    end
    vim.ui.input({ prompt = prompt }, function(answer)
      if answer and vim.trim(answer) ~= '' then -- empty or <Esc>: cancel
        arguments[index] = vim.trim(answer)
        send()
      end
    end)
  end
end
vim.lsp.commands['weft.startSession'] = ask_then_execute('Task id: ', 2, function(a)
  return a[2] == nil
end)
vim.lsp.commands['weft.completePhase'] = ask_then_execute('Override reason: ', 4, function(a)
  return a[3] == true and a[4] == nil
end)

-- Inlay hints (each stage's wave, the last run's result), code lenses ("Run stage", "Run workflow",
-- ...) kept fresh, <leader>cl runs the lens on the cursor line, and completion as you type.
vim.api.nvim_create_autocmd('LspAttach', {
  group = vim.api.nvim_create_augroup('weft.lsp', { clear = true }),
  callback = function(ev)
    local client = vim.lsp.get_client_by_id(ev.data.client_id)
    if not client or client.name ~= 'weft' then
      return
    end
    if client:supports_method('textDocument/inlayHint') then
      vim.lsp.inlay_hint.enable(true, { bufnr = ev.buf })
    end
    if client:supports_method('textDocument/codeLens') then
      vim.lsp.codelens.refresh({ bufnr = ev.buf })
      vim.api.nvim_create_autocmd({ 'BufEnter', 'InsertLeave', 'CursorHold' }, {
        group = vim.api.nvim_create_augroup('weft.codelens.' .. ev.buf, { clear = true }),
        buffer = ev.buf,
        callback = function()
          vim.lsp.codelens.refresh({ bufnr = ev.buf })
        end,
      })
      vim.keymap.set('n', '<leader>cl', vim.lsp.codelens.run, { buffer = ev.buf, desc = 'weft: run code lens' })
    end
    for name, command in pairs({ WeftStartSession = 'weft.startSession', WeftCompletePhase = 'weft.completePhase' }) do
      vim.api.nvim_buf_create_user_command(ev.buf, name, function(opts)
        local task, reason = opts.fargs[1], opts.fargs[2] and table.concat(opts.fargs, ' ', 2) or nil
        local arguments = { vim.uri_from_bufnr(ev.buf), task, reason ~= nil or nil, reason }
        client:exec_cmd({ title = name, command = command, arguments = arguments }, { bufnr = ev.buf })
      end, { nargs = '+', desc = 'weft: ' .. command .. ' TASK' })
    end
    -- Built-in completion menu as you type (CTRL-Y accepts); leave these two lines out if you
    -- use nvim-cmp or blink.cmp.
    vim.bo[ev.buf].completeopt = 'menu,menuone,noselect,popup'
    vim.lsp.completion.enable(true, client.id, ev.buf, { autotrigger = true })
  end,
})
