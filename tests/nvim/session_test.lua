-- Sessions from the editor, in a real Neovim 0.11 configured as docs/EDITORS.md says.
-- Run by tests/nvim/run.sh --script session_test, from an empty project folder.
-- Exit status 0 and a last line PASS: passed. Anything else: failed (the reason is printed).
--
-- A phase template with three phases: the user starts a session with the "▶ Start session" lens
-- (<leader>cl, the task id typed into the prompt), completes the first phase from its lens and is
-- refused (a diagnostic per failing check on the phase's id, and a "Complete with override" lens),
-- overrides it from that lens with a reason, then completes the second phase with
-- :WeftCompletePhase T-1. The lenses follow, and `weft session status` shows what was recorded.

local harness = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)), 'harness.lua'))
local log, finish, wait_for = harness.log, harness.finish, harness.wait_for

vim.o.updatetime = 600000

local messages = {}
vim.notify = function(message)
  messages[#messages + 1] = message
  log('  message: ' .. message)
end
-- The outcome of a session command comes as window/showMessage (Neovim echoes it).
local show_message = vim.lsp.handlers['window/showMessage']
vim.lsp.handlers['window/showMessage'] = function(err, params, ctx)
  messages[#messages + 1] = params.message
  return show_message(err, params, ctx)
end
local function message_matching(pattern)
  return vim.iter(messages):find(function(m)
    return m:find(pattern)
  end)
end

local choice, answer, prompts = nil, nil, {}
vim.ui.select = function(items, opts, on_choice)
  local offered = vim.tbl_map(opts.format_item or tostring, items)
  for i, title in ipairs(offered) do
    if title == choice then
      return on_choice(items[i], i)
    end
  end
  error(('no lens %q among %s'):format(tostring(choice), vim.inspect(offered)))
end
vim.ui.input = function(opts, on_confirm)
  prompts[#prompts + 1] = opts.prompt
  on_confirm(answer)
end

local TEMPLATE = {
  'template_id: feature', -- line 0
  'phases:',
  '  - id: intake', -- line 2
  '    goal: Understand the request',
  '    artifacts:',
  '      required: ["docs/tasks/{task}/intake.md"]',
  '  - id: research', -- line 6
  '    goal: Research prior art',
  '    artifacts:',
  '      required: ["docs/tasks/{task}/research.md"]',
  '  - id: close', -- line 10
  '    goal: Close the task',
}
local HEADER, INTAKE, RESEARCH, CLOSE = 0, 2, 6, 10

local function test()
  local dir = vim.uv.fs_realpath(vim.fn.getcwd())
  vim.fn.writefile(TEMPLATE, dir .. '/feature.phases.yaml')
  vim.cmd.edit(vim.fn.fnameescape(dir .. '/feature.phases.yaml'))
  local bufnr = vim.api.nvim_get_current_buf()
  wait_for('the weft client to attach', function()
    local c = vim.lsp.get_clients({ bufnr = bufnr, name = 'weft' })[1]
    return c and c.initialized and c
  end)
  local function titles(lnum)
    return vim.tbl_map(function(l)
      return l.command.title
    end, vim.tbl_filter(function(l)
      return l.range.start.line == lnum and l.command
    end, vim.lsp.codelens.get(bufnr)))
  end
  local function lens_titled(lnum, title)
    return vim.tbl_contains(titles(lnum), title)
  end
  local function run_lens(lnum)
    vim.api.nvim_win_set_cursor(0, { lnum + 1, 0 })
    vim.api.nvim_feedkeys(vim.keycode('<leader>cl'), 'mt', false)
  end

  -- No session yet: only "▶ Start session". Start one; the task id is asked for.
  wait_for('the Start session lens', function()
    return lens_titled(HEADER, '▶ Start session')
  end)
  assert(#titles(INTAKE) == 0, 'lenses on intake before any session: ' .. vim.inspect(titles(INTAKE)))
  answer = 'T-1'
  run_lens(HEADER)
  wait_for('the session to start', function()
    return message_matching('T%-1: session started')
  end)
  assert(prompts[1] == 'Task id: ', 'prompts: ' .. vim.inspect(prompts))
  wait_for('the Complete phase lens on intake', function()
    return lens_titled(INTAKE, '✓ Complete phase (T-1)')
  end)
  log('  intake lenses: ' .. table.concat(titles(INTAKE), ' | '))

  -- Complete it: refused, the missing artifact is a diagnostic on the phase's id.
  run_lens(INTAKE)
  wait_for('the refusal', function()
    return message_matching('T%-1: intake refused: 1 check failed')
  end)
  local checks = wait_for('the phase-check diagnostic', function()
    local found = vim.tbl_filter(function(d)
      return d.code == 'phase-check'
    end, vim.diagnostic.get(bufnr))
    return #found > 0 and found
  end)
  assert(#checks == 1 and checks[1].lnum == INTAKE and checks[1].col == 8 and checks[1].end_col == 14,
    'diagnostics: ' .. vim.inspect(checks))
  assert(checks[1].message == 'T-1: artifact docs/tasks/T-1/intake.md is missing (or empty)', checks[1].message)
  log('  diagnostic: ' .. checks[1].message)
  wait_for('the override lens', function()
    return lens_titled(INTAKE, 'Complete with override (T-1)')
  end)

  -- Override from the lens, with a reason.
  choice, answer = 'Complete with override (T-1)', 'the request is in the ticket'
  run_lens(INTAKE)
  wait_for('the override', function()
    return message_matching('T%-1: intake completed with override')
  end)
  assert(prompts[2] == 'Override reason: ', 'prompts: ' .. vim.inspect(prompts))
  wait_for('the lens to move to research', function()
    return lens_titled(RESEARCH, '✓ Complete phase (T-1)') and #titles(INTAKE) == 0
  end)
  wait_for('the diagnostic to go', function()
    return #vim.diagnostic.get(bufnr) == 0
  end)

  -- The next phase, completed with the command and a task argument.
  vim.fn.mkdir(dir .. '/docs/tasks/T-1', 'p')
  vim.fn.writefile({ '# Research' }, dir .. '/docs/tasks/T-1/research.md')
  vim.cmd('WeftCompletePhase T-1')
  wait_for('research to complete', function()
    return message_matching('T%-1: research completed — next: close')
  end)
  wait_for('the lens to move to close', function()
    return lens_titled(CLOSE, '✓ Complete phase (T-1)')
  end)

  -- What the history says.
  local status = vim.json.decode(vim.fn.system({ vim.env.WEFT_BIN, 'session', 'status', 'T-1', '--format', 'json' }))
  local phases = status.sessions[1].phases
  assert(phases[1].status == 'overridden' and phases[1].override.reason == 'the request is in the ticket',
    'intake: ' .. vim.inspect(phases[1]))
  assert(phases[2].status == 'completed' and phases[3].status == 'active', 'phases: ' .. vim.inspect(phases))
  log('  session: ' .. table.concat(vim.tbl_map(function(p)
    return p.id .. ' ' .. p.status
  end, phases), ', '))
end

local co = coroutine.create(function()
  local ok, err = xpcall(test, debug.traceback)
  vim.schedule(function()
    finish(ok, err)
  end)
end)
coroutine.resume(co)
