-- Runs from the editor, in a real Neovim 0.11 configured as docs/EDITORS.md says (tests/nvim/init.lua).
-- Run by tests/nvim/run.sh --script run_test, from an empty project folder:
--   nvim --headless --clean -n -u tests/nvim/init.lua -S tests/nvim/run_test.lua
-- Exit status 0 and a last line PASS: passed. Anything else: failed (the reason is printed).
--
-- It writes a small project (weft.yaml and a plan with a passing step `greet` and a step `broken`
-- that writes to stderr and exits 3), opens the plan, runs it with the "▶ Run plan" lens through the
-- documented <leader>cl mapping, waits for the run's `weft/runEvent`s, and checks what the user sees
-- afterwards: the result lenses, the run diagnostic and the run in .weft/weft.db. Then the log of the
-- failed step (window/showDocument), a "▶ Run step" lens, and the refusal of a file with unsaved changes.
--
-- The test runs in a coroutine that yields to Neovim's main loop while it waits, so keys fed with
-- nvim_feedkeys are typed as a user would type them.

local harness = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)), 'harness.lua'))
local log, finish, wait_for, WAIT = harness.log, harness.finish, harness.wait_for, harness.WAIT

local function sleep(ms)
  local me = coroutine.running()
  vim.defer_fn(function()
    coroutine.resume(me)
  end, ms)
  coroutine.yield()
end

local function ms_since(t0)
  return (vim.uv.hrtime() - t0) / 1e6
end

-- The lenses must follow a run by themselves, not because the user stopped typing for 'updatetime'
-- and the documented CursorHold refresh happened to fire: keep CursorHold out of this test.
vim.o.updatetime = 600000

-- weft/runEvent notifications, in arrival order, with the time they arrived.
local events = {}
vim.lsp.handlers['weft/runEvent'] = function(_, params)
  params.received = vim.uv.hrtime()
  events[#events + 1] = params
end

local function event_of(run, kind)
  return vim.iter(events):find(function(e)
    return e.event.run == run and e.event.kind == kind
  end)
end

-- Messages shown to the user (executeCommand errors, window/showMessage), kept and printed here.
local notified = {}
vim.notify = function(message, level)
  notified[#notified + 1] = { message = message, level = level }
  local name = vim.iter(pairs(vim.log.levels)):find(function(_, v)
    return v == level
  end)
  log(('  message (%s): %s'):format(name or tostring(level), message))
end

-- vim.lsp.codelens.run() asks with vim.ui.select when a line has several lenses: answer as the user
-- would, by title, and remember what was offered.
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
  'plan_id: nvim-run', -- line 0: the header, where "▶ Run plan" is
  'version: "1.0"',
  'name: Runs from Neovim',
  'steps:',
  '  - id: greet', -- line 4
  '    run: sleep 1; echo hello from greet', -- long enough to see the run going on
  '  - id: broken', -- line 6
  '    run: \'echo "preparing" >&2; echo "disk on fire" >&2; exit 3\'',
  '    depends_on: [greet]',
}
local HEADER, GREET, BROKEN = 0, 4, 6

local function test()
  -- 1. The project, and the plan opened as a user opens it.
  local dir = vim.uv.fs_realpath(vim.fn.getcwd())
  vim.fn.writefile({ 'defaults:', '  max_concurrency: 2' }, dir .. '/weft.yaml')
  vim.fn.writefile(PLAN, dir .. '/demo.plan.yaml')
  vim.cmd.edit(vim.fn.fnameescape(dir .. '/demo.plan.yaml'))
  local bufnr = vim.api.nvim_get_current_buf()
  local path = vim.api.nvim_buf_get_name(bufnr)
  local uri = vim.uri_from_bufnr(bufnr)
  local db = dir .. '/.weft/weft.db'
  log('file: ' .. path)
  assert(vim.bo[bufnr].filetype == 'yaml.weft', 'filetype is ' .. vim.bo[bufnr].filetype)
  local client = wait_for('the weft client to attach', function()
    local c = vim.lsp.get_clients({ bufnr = bufnr, name = 'weft' })[1]
    return c and c.initialized and c
  end)
  assert(client.root_dir == dir, 'root_dir is ' .. tostring(client.root_dir) .. ', want ' .. dir)
  local commands = (client.server_capabilities.executeCommandProvider or {}).commands or {}
  assert(vim.tbl_contains(commands, 'weft.runWorkflow') and vim.tbl_contains(commands, 'weft.runStage'),
    'executeCommandProvider: ' .. vim.inspect(commands))

  -- Lenses as Neovim has them (vim.lsp.codelens.get) and as it shows them (virtual text).
  local lens_ns = vim.api.nvim_get_namespaces()['nvim.lsp.codelens:' .. client.id]
  local function lenses(lnum)
    return vim.iter(vim.lsp.codelens.get(bufnr))
      :filter(function(l)
        return l.range.start.line == lnum
      end)
      :totable()
  end
  local function titles(lnum)
    return vim.tbl_map(function(l)
      return l.command and l.command.title or '?'
    end, lenses(lnum))
  end
  local function lens_titled(lnum, pattern)
    return vim.iter(lenses(lnum)):find(function(l)
      return l.command and l.command.title:find(pattern)
    end)
  end
  local function shown(lnum)
    lens_ns = lens_ns or vim.api.nvim_get_namespaces()['nvim.lsp.codelens:' .. client.id]
    if not lens_ns then
      return ''
    end
    local text = {}
    for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(bufnr, lens_ns, { lnum, 0 }, { lnum, -1 }, { details = true })) do
      for _, chunk in ipairs(mark[4].virt_text or {}) do
        text[#text + 1] = chunk[1]
      end
    end
    return table.concat(text)
  end
  local function show_lenses(what)
    log('  lenses ' .. what .. ':')
    for _, lnum in ipairs({ HEADER, GREET, BROKEN }) do
      log(('    %d %-16s %s'):format(lnum + 1, vim.trim(PLAN[lnum + 1]):sub(1, 16), shown(lnum)))
    end
  end

  -- 2. Before any run: the run buttons, no results, and no history (looking does not create it).
  wait_for('the first lenses', function()
    return lens_titled(HEADER, '^▶ Run plan$') and shown(HEADER):find('▶ Run plan', 1, true)
  end)
  show_lenses('before the first run')
  assert(vim.deep_equal(titles(HEADER), { '▶ Run plan' }), 'header lenses: ' .. vim.inspect(titles(HEADER)))
  assert(vim.deep_equal(titles(GREET), { '▶ Run step' }), 'greet lenses: ' .. vim.inspect(titles(GREET)))
  local broken_titles = titles(BROKEN)
  table.sort(broken_titles)
  assert(vim.deep_equal(broken_titles, { '▶ Run step', '▶ Run with dependencies' }),
    'broken lenses: ' .. vim.inspect(broken_titles))
  assert(vim.fn.filereadable(db) == 0, 'the lenses created ' .. db)

  -- 3. "▶ Run plan", as the user runs it: cursor on the header line, <leader>cl (the documented mapping).
  vim.api.nvim_win_set_cursor(0, { HEADER + 1, 0 })
  local t_run = vim.uv.hrtime()
  vim.api.nvim_feedkeys(vim.keycode('<leader>cl'), 'mt', false)
  local started = wait_for('run_started of the first run', function()
    return vim.iter(events):find(function(e)
      return e.event.kind == 'run_started'
    end)
  end)
  local run1 = started.event.run
  assert(started.uri == uri, 'runEvent uri ' .. tostring(started.uri) .. ', want ' .. uri)
  log(('  <leader>cl started run %d (%.0f ms)'):format(run1, ms_since(t_run)))
  -- While it goes on (greet sleeps 1 s), the lenses say so.
  wait_for('the header lens to show the run going on', function()
    return shown(HEADER):find('⏳ run ' .. run1, 1, true)
  end)
  show_lenses('while run ' .. run1 .. ' goes on')
  assert(not event_of(run1, 'run_finished'), 'run finished before its lenses showed it going on')
  local finished = wait_for('run_finished of run ' .. run1, function()
    return event_of(run1, 'run_finished')
  end)
  log(('  run %d %s after %.0f ms; events: %s'):format(run1, finished.event.data.status, ms_since(t_run),
    table.concat(vim.iter(events):map(function(e)
      return e.event.kind .. (e.event.step and ('(' .. e.event.step .. ')') or '')
    end):totable(), ' ')))
  assert(finished.event.data.status == 'failed', 'run status ' .. vim.inspect(finished.event.data))
  local failed = event_of(run1, 'step_failed')
  assert(failed and failed.event.step == 'broken' and failed.event.data.exit_code == 3,
    'step_failed event: ' .. vim.inspect(failed))
  assert(event_of(run1, 'step_succeeded') and event_of(run1, 'step_succeeded').event.step == 'greet',
    'no step_succeeded for greet')

  -- 4. The lenses now show the results, without the user doing anything.
  wait_for('the result lenses of run ' .. run1, function()
    return shown(GREET):find('✓', 1, true) and shown(BROKEN):find('✗ exit 3', 1, true)
      and not shown(HEADER):find('⏳', 1, true)
  end)
  log(('  result lenses shown %.0f ms after run_finished arrived'):format(ms_since(finished.received)))
  show_lenses('after run ' .. run1)
  local ok_lens = lens_titled(GREET, '^✓')
  assert(ok_lens.command.title:match('^✓ [%d.]+ m?s$'), 'greet result lens: ' .. ok_lens.command.title)
  assert(vim.deep_equal(ok_lens.command.arguments, { uri, 'greet', run1 }),
    'greet result lens arguments: ' .. vim.inspect(ok_lens.command.arguments))
  local fail_lens = lens_titled(BROKEN, '^✗')
  assert(fail_lens.command.title:match('^✗ exit 3 · [%d.]+ m?s$'), 'broken result lens: ' .. fail_lens.command.title)
  assert(lens_titled(BROKEN, '^Show log$'), 'no "Show log" lens on broken: ' .. vim.inspect(titles(BROKEN)))
  assert(lens_titled(HEADER, '^▶ Run plan$'), 'no "▶ Run plan" lens after the run: ' .. vim.inspect(titles(HEADER)))
  assert(lens_titled(HEADER, '^⟳ Resume run ' .. run1 .. ' %(1/2 done%)$'),
    'no resume lens after the failed run: ' .. vim.inspect(titles(HEADER)))

  -- 5. The run diagnostic on the failed step's id: exit code and stderr.
  local diag = wait_for('the run diagnostic of broken', function()
    return vim.iter(vim.diagnostic.get(bufnr)):find(function(d)
      return d.source == 'weft run'
    end)
  end)
  log(('  diagnostic %d:%d-%d:%d [%s] %s: %s'):format(diag.lnum + 1, diag.col + 1, diag.end_lnum + 1, diag.end_col + 1,
    diag.code, diag.source, (diag.message:gsub('\n', ' | '))))
  local id_col = PLAN[BROKEN + 1]:find('broken', 1, true) - 1
  assert(diag.code == 'step-failed' and diag.severity == vim.diagnostic.severity.ERROR,
    'run diagnostic: ' .. vim.inspect(diag))
  assert(diag.lnum == BROKEN and diag.col == id_col and diag.end_lnum == BROKEN and diag.end_col == id_col + 6,
    ('run diagnostic range %d:%d-%d:%d, want the id `broken` on line %d'):format(diag.lnum, diag.col,
      diag.end_lnum, diag.end_col, BROKEN + 1))
  assert(diag.message:find('exit 3', 1, true), 'no exit code in: ' .. diag.message)
  assert(diag.message:find('disk on fire', 1, true), 'no stderr in: ' .. diag.message)
  assert(#vim.diagnostic.get(bufnr) == 1, 'other diagnostics: ' .. vim.inspect(vim.diagnostic.get(bufnr)))

  -- 6. The run is in the history, .weft/weft.db of the workspace (the folder with weft.yaml).
  local function history(run)
    local query = [[
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
run = int(sys.argv[2])
row = db.execute("SELECT path, status, finished_at FROM runs WHERE id = ?", (run,)).fetchone()
steps = db.execute("SELECT step_id, status, attempts, exit_code, reason FROM steps WHERE run_id = ? ORDER BY position",
                   (run,)).fetchall()
kinds = [k for (k,) in db.execute("SELECT kind FROM events WHERE run_id = ? ORDER BY seq", (run,))]
print(json.dumps({"run": row and {"path": row[0], "status": row[1], "finished_at": row[2]},
                  "steps": {s[0]: {"status": s[1], "attempts": s[2], "exit_code": s[3], "reason": s[4]} for s in steps},
                  "events": kinds}))
]]
    local out = vim.fn.system({ 'python3', '-c', query, db, tostring(run) })
    assert(vim.v.shell_error == 0, 'reading ' .. db .. ' failed: ' .. out)
    return vim.json.decode(out, { luanil = { object = true, array = true } })
  end
  assert(vim.fn.filereadable(db) == 1, 'no history at ' .. db)
  local h = history(run1)
  log('  history of run ' .. run1 .. ': ' .. vim.json.encode(h))
  assert(h.run and h.run.path == path and h.run.status == 'failed' and h.run.finished_at,
    'run ' .. run1 .. ' in weft.db: ' .. vim.inspect(h.run))
  assert(h.steps.greet and h.steps.greet.status == 'succeeded' and h.steps.greet.exit_code == 0,
    'greet in weft.db: ' .. vim.inspect(h.steps.greet))
  assert(h.steps.broken and h.steps.broken.status == 'failed' and h.steps.broken.exit_code == 3,
    'broken in weft.db: ' .. vim.inspect(h.steps.broken))
  assert(h.events[1] == 'run_started' and h.events[#h.events] == 'run_finished',
    'events in weft.db: ' .. vim.inspect(h.events))

  -- 7. "Show log" on the failed step opens its stderr (window/showDocument).
  vim.api.nvim_win_set_cursor(0, { BROKEN + 1, 0 })
  choice = 'Show log'
  vim.api.nvim_feedkeys(vim.keycode('<leader>cl'), 'mt', false)
  local log_buf = wait_for('the log of broken to open', function()
    local b = vim.api.nvim_get_current_buf()
    return b ~= bufnr and vim.api.nvim_buf_get_name(b):find('%.stderr$') and b
  end)
  local log_lines = vim.api.nvim_buf_get_lines(log_buf, 0, -1, false)
  log('  Show log opened ' .. vim.api.nvim_buf_get_name(log_buf):gsub('^' .. vim.pesc(dir) .. '/', '') .. ': '
    .. table.concat(log_lines, ' | '))
  assert(vim.tbl_contains(log_lines, 'disk on fire'), 'the log does not have the stderr: ' .. vim.inspect(log_lines))
  table.sort(offered)
  assert(vim.deep_equal(offered, { 'Show log', '▶ Run step', '▶ Run with dependencies', fail_lens.command.title, '⟳ Retry', '⤼ Skip and continue' }),
    'lenses offered on broken: ' .. vim.inspect(offered))
  vim.cmd.buffer(bufnr)

  -- 8. "▶ Run step" on greet: a run of that step alone, and its result lens follows.
  vim.api.nvim_win_set_cursor(0, { GREET + 1, 0 })
  choice = '▶ Run step'
  t_run = vim.uv.hrtime()
  vim.api.nvim_feedkeys(vim.keycode('<leader>cl'), 'mt', false)
  started = wait_for('run_started of the stage run', function()
    return vim.iter(events):find(function(e)
      return e.event.kind == 'run_started' and e.event.run ~= run1
    end)
  end)
  local run2 = started.event.run
  assert(vim.deep_equal(vim.fn.sort(offered), vim.fn.sort({ '▶ Run step', ok_lens.command.title })),
    'lenses offered on greet: ' .. vim.inspect(offered))
  wait_for('the greet lens to show the step running', function()
    return shown(GREET):find('⏳ running', 1, true)
  end)
  show_lenses('while run ' .. run2 .. ' goes on')
  finished = wait_for('run_finished of run ' .. run2, function()
    return event_of(run2, 'run_finished')
  end)
  log(('  run %d (▶ Run step on greet) %s after %.0f ms'):format(run2, finished.event.data.status, ms_since(t_run)))
  assert(finished.event.data.status == 'succeeded', 'stage run status ' .. vim.inspect(finished.event.data))
  assert(not vim.iter(events):find(function(e)
    return e.event.run == run2 and e.event.step == 'broken' and e.event.kind == 'step_started'
  end), 'the stage run started broken')
  local new_ok = wait_for('the greet result lens of run ' .. run2, function()
    local l = lens_titled(GREET, '^✓')
    return l and l.command.arguments[3] == run2 and shown(GREET):find('✓', 1, true)
      and not shown(GREET):find('⏳', 1, true) and l
  end)
  log(('  greet result lens of run %d shown %.0f ms after run_finished arrived'):format(run2, ms_since(finished.received)))
  show_lenses('after run ' .. run2)
  assert(new_ok.command.title:match('^✓ [%d.]+ m?s$'), 'greet result lens: ' .. new_ok.command.title)
  local still = lens_titled(BROKEN, '^✗ exit 3')
  assert(still and still.command.arguments[3] == run1, 'broken no longer shows its last result (run ' .. run1 .. '): '
    .. vim.inspect(titles(BROKEN)))
  -- The run diagnostics of the file go when it is run again.
  wait_for('the run diagnostic to go', function()
    return #vim.diagnostic.get(bufnr) == 0
  end)
  h = history(run2)
  log('  history of run ' .. run2 .. ': ' .. vim.json.encode(h))
  assert(h.run and h.run.status == 'succeeded' and h.steps.greet and h.steps.greet.status == 'succeeded',
    'run ' .. run2 .. ' in weft.db: ' .. vim.inspect(h))
  assert(not h.steps.broken or h.steps.broken.status ~= 'failed', 'broken ran in the stage run: ' .. vim.inspect(h))

  -- 9. A file with unsaved changes is refused, with a message that says why; nothing runs.
  vim.api.nvim_buf_set_lines(bufnr, -1, -1, false, { '# an unsaved comment' })
  vim.api.nvim_win_set_cursor(0, { HEADER + 1, 0 })
  local before = #events
  local seen = #notified
  wait_for('the header lens after the edit', function()
    vim.lsp.codelens.refresh({ bufnr = bufnr })
    return lens_titled(HEADER, '^▶ Run plan$')
  end)
  choice = '▶ Run plan'
  vim.api.nvim_feedkeys(vim.keycode('<leader>cl'), 'mt', false)
  local refusal = wait_for('the refusal of the unsaved file', function()
    return vim.iter(notified):skip(seen):find(function(n)
      return n.level == vim.log.levels.ERROR and n.message:find('save', 1, true)
        and n.message:find('demo.plan.yaml', 1, true)
    end)
  end)
  assert(refusal.message:find('the run uses the file on disk', 1, true), 'refusal message: ' .. refusal.message)
  sleep(300)
  assert(#events == before, 'a run started from the unsaved file: ' .. vim.inspect(events[before + 1]))
end

local co = coroutine.create(function()
  local ok, err = xpcall(test, debug.traceback)
  vim.schedule(function()
    finish(ok, err)
  end)
end)
local ok, err = coroutine.resume(co)
if not ok then
  finish(false, err)
end
