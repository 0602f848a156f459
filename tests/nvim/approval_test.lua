-- Human approval from the editor, in a real Neovim 0.11 configured as docs/EDITORS.md says.
-- Run by tests/nvim/run.sh --script approval_test, from an empty project folder.
-- Exit status 0 and a last line PASS: passed. Anything else: failed (the reason is printed).
--
-- A plan whose `gate` step needs an approval before `deploy`: the user runs it with the "▶ Run plan"
-- lens (<leader>cl), the gate's lens turns to "⏸ waiting for approval" with "✓ Approve" and
-- "✗ Reject", the user picks "✓ Approve" with <leader>cl, and the run goes on to deploy and succeeds;
-- the approval is an event naming who approved.

local harness = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)), 'harness.lua'))
local log, finish, wait_for = harness.log, harness.finish, harness.wait_for

vim.o.updatetime = 600000

local events = {}
vim.lsp.handlers['weft/runEvent'] = function(_, params)
  events[#events + 1] = params
end
local function event_of(run, kind)
  return vim.iter(events):find(function(e)
    return e.event.run == run and e.event.kind == kind
  end)
end

vim.notify = function(message)
  log('  message: ' .. message)
end

local choice, offered
vim.ui.select = function(items, opts, on_choice)
  offered = vim.tbl_map(opts.format_item or tostring, items)
  for i, title in ipairs(offered) do
    if title == choice then
      return on_choice(items[i], i)
    end
  end
  error(('no lens %q among %s'):format(tostring(choice), vim.inspect(offered)))
end

local PLAN = {
  'plan_id: nvim-approval', -- line 0
  'steps:',
  '  - id: build', -- line 2
  '    run: echo built',
  '  - id: gate', -- line 4
  '    approval: { prompt: "Deploy to production?" }',
  '    depends_on: [build]',
  '  - id: deploy', -- line 7
  '    run: echo deployed > deployed.txt',
  '    depends_on: [gate]',
}
local HEADER, GATE = 0, 4

local function test()
  local dir = vim.uv.fs_realpath(vim.fn.getcwd())
  vim.fn.writefile({ 'defaults:', '  max_concurrency: 2' }, dir .. '/weft.yaml')
  vim.fn.writefile(PLAN, dir .. '/approval.plan.yaml')
  vim.cmd.edit(vim.fn.fnameescape(dir .. '/approval.plan.yaml'))
  local bufnr = vim.api.nvim_get_current_buf()
  local client = wait_for('the weft client to attach', function()
    local c = vim.lsp.get_clients({ bufnr = bufnr, name = 'weft' })[1]
    return c and c.initialized and c
  end)
  local function lens_titled(lnum, pattern)
    return vim.iter(vim.lsp.codelens.get(bufnr)):find(function(l)
      return l.range.start.line == lnum and l.command and l.command.title:find(pattern)
    end)
  end
  local commands = (client.server_capabilities.executeCommandProvider or {}).commands or {}
  assert(vim.tbl_contains(commands, 'weft.approve') and vim.tbl_contains(commands, 'weft.reject'),
    'executeCommandProvider: ' .. vim.inspect(commands))

  -- Run the plan from its lens.
  wait_for('the run lens', function()
    return lens_titled(HEADER, '^▶ Run plan$')
  end)
  vim.api.nvim_win_set_cursor(0, { HEADER + 1, 0 })
  vim.api.nvim_feedkeys(vim.keycode('<leader>cl'), 'mt', false)
  local waiting = wait_for('the gate to wait for its approval', function()
    return vim.iter(events):find(function(e)
      return e.event.kind == 'step_waiting' and e.event.step == 'gate'
    end)
  end)
  local run = waiting.event.run
  assert(waiting.event.data.prompt == 'Deploy to production?', 'step_waiting data: ' .. vim.inspect(waiting.event.data))
  log(('  run %d: gate waits for approval'):format(run))

  -- The gate's lenses: its state, and the two decisions.
  wait_for('the Approve lens on the gate', function()
    return lens_titled(GATE, '^✓ Approve$') and lens_titled(GATE, '^✗ Reject$') and lens_titled(GATE, 'waiting')
  end)
  log('  gate lenses: ' .. table.concat(vim.tbl_map(function(l)
    return l.command.title
  end, vim.tbl_filter(function(l)
    return l.range.start.line == GATE
  end, vim.lsp.codelens.get(bufnr))), ' | '))
  assert(not event_of(run, 'step_started') or event_of(run, 'step_started').event.step ~= 'deploy',
    'deploy started before the approval')

  -- Approve it as the user does: cursor on the gate, <leader>cl, pick "✓ Approve".
  vim.api.nvim_win_set_cursor(0, { GATE + 1, 0 })
  choice = '✓ Approve'
  vim.api.nvim_feedkeys(vim.keycode('<leader>cl'), 'mt', false)
  local approved = wait_for('the approval event', function()
    return event_of(run, 'step_approved')
  end)
  assert(approved.event.step == 'gate' and approved.event.data.by and approved.event.data.by ~= '',
    'step_approved: ' .. vim.inspect(approved.event))
  local finished = wait_for('the run to finish', function()
    return event_of(run, 'run_finished')
  end)
  assert(finished.event.data.status == 'succeeded', 'run_finished: ' .. vim.inspect(finished.event.data))
  assert(vim.fn.filereadable(dir .. '/deployed.txt') == 1, 'deploy did not run')
  log(('  approved by %s; run %d succeeded'):format(approved.event.data.by, run))
  wait_for('the gate to show its result', function()
    return lens_titled(GATE, '^✓') and not lens_titled(GATE, 'Approve')
  end)
end

local co = coroutine.create(function()
  local ok, err = xpcall(test, debug.traceback)
  vim.schedule(function()
    finish(ok, err)
  end)
end)
coroutine.resume(co)
