-- weft's language server in a real Neovim 0.11, attached through the documented config.
-- Run by tests/nvim/run.sh, from a copy of examples/broken:
--   nvim --headless --clean -n -u tests/nvim/init.lua -S tests/nvim/lsp_test.lua pipeline.workflow.yaml
-- Exit status 0 and a last line PASS: passed. Anything else: failed (the reason is printed).
--
-- The test runs in a coroutine that yields to Neovim's main loop while it waits, so keys fed with
-- nvim_feedkeys are typed as a user would type them (insert mode, autotrigger, completion menu).

local harness = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)), 'harness.lua'))
local log, finish, wait_for, WAIT = harness.log, harness.finish, harness.wait_for, harness.WAIT

local function sorted(list)
  local copy = vim.deepcopy(list)
  table.sort(copy)
  return copy
end

local function assert_set(what, got, want)
  got, want = sorted(got), sorted(want)
  assert(vim.deep_equal(got, want), ('%s: got %s, want %s'):format(what, vim.inspect(got), vim.inspect(want)))
end

-- publishDiagnostics: the last version published per URI (Neovim sends changedtick as version).
local published = {}
local default_publish = vim.lsp.handlers['textDocument/publishDiagnostics']
vim.lsp.handlers['textDocument/publishDiagnostics'] = function(err, result, ctx, config)
  if result then
    published[result.uri] = { version = result.version, count = #result.diagnostics }
  end
  return default_publish(err, result, ctx, config)
end

local function test()
  local bufnr = vim.api.nvim_get_current_buf()
  local path = vim.api.nvim_buf_get_name(bufnr)
  local uri = vim.uri_from_bufnr(bufnr)
  local dir = vim.fs.dirname(path)
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  log('file: ' .. path)

  -- 1. The documented config: file types, YAML highlighting kept, the client attached at the root.
  assert(vim.bo[bufnr].filetype == 'yaml.weft', 'filetype is ' .. vim.bo[bufnr].filetype)
  assert(vim.b[bufnr].current_syntax == 'yaml', 'YAML syntax not loaded: ' .. tostring(vim.b[bufnr].current_syntax))
  local kinds = {
    ['weft.yaml'] = 'yaml.weft',
    ['weft.yml'] = 'yaml.weft',
    ['a.workflow.yaml'] = 'yaml.weft',
    ['a.workflow.yml'] = 'yaml.weft',
    ['a.plan.yaml'] = 'yaml.weft',
    ['a.plan.yml'] = 'yaml.weft',
    ['a.plan.json'] = 'json.weft',
    ['a.phases.yaml'] = 'yaml.weft',
    ['a.json'] = 'json',
    ['workflow.yaml.bak'] = '',
  }
  for name, want in pairs(kinds) do
    local got = vim.filetype.match({ filename = dir .. '/' .. name }) or ''
    assert(got == want, ('filetype of %s: %s, want %s'):format(name, got, want))
  end
  local client = wait_for('the weft client to attach', function()
    local c = vim.lsp.get_clients({ bufnr = bufnr, name = 'weft' })[1]
    return c and c.initialized and c
  end)
  log(('client: %s, root %s, position encoding %s'):format(client.name, client.root_dir, client.offset_encoding))
  assert(client.root_dir == dir, 'root_dir is ' .. tostring(client.root_dir) .. ', want the folder with weft.yaml')
  assert(vim.lsp.inlay_hint.is_enabled({ bufnr = bufnr }), 'inlay hints not enabled by the config')

  -- 2. Diagnostics: every `# error: [code]` comment of examples/broken is a diagnostic on that line.
  wait_for('publishDiagnostics', function()
    return published[uri]
  end)
  local severities = { error = vim.diagnostic.severity.ERROR, warning = vim.diagnostic.severity.WARN,
    info = vim.diagnostic.severity.INFO, hint = vim.diagnostic.severity.HINT }
  local expected = {}
  for i, line in ipairs(lines) do
    local severity, code = line:match('#%s*(%a+):%s*%[([%w-]+)%]')
    if code then
      expected[#expected + 1] = { lnum = i - 1, code = code, severity = severities[severity] }
    end
  end
  local diags = vim.diagnostic.get(bufnr)
  for _, d in ipairs(diags) do
    log(('  diagnostic %d:%d-%d:%d %s [%s] %s'):format(d.lnum + 1, d.col + 1, d.end_lnum + 1, d.end_col + 1,
      vim.diagnostic.severity[d.severity], d.code, (d.message:gsub('\n.*', ''))))
  end
  assert(#expected == 10, 'expected 10 marked lines in the example, found ' .. #expected)
  assert(#diags == #expected, ('%d diagnostics, want %d'):format(#diags, #expected))
  for _, want in ipairs(expected) do
    local found = vim.iter(diags):find(function(d)
      return d.lnum == want.lnum and d.code == want.code and d.severity == want.severity
    end)
    assert(found, ('no %s diagnostic on line %d'):format(want.code, want.lnum + 1))
  end
  -- unknown-dependency: line 10 `    depends_on: [biuld]`, exactly on `biuld`, with "did you mean".
  assert(lines[10] == '    depends_on: [biuld]  # error: [unknown-dependency]', 'line 10 changed: ' .. lines[10])
  local unknown = vim.iter(diags):find(function(d)
    return d.code == 'unknown-dependency'
  end)
  assert(unknown.lnum == 9 and unknown.col == 17 and unknown.end_lnum == 9 and unknown.end_col == 22,
    'unknown-dependency range: ' .. vim.inspect({ unknown.lnum, unknown.col, unknown.end_lnum, unknown.end_col }))
  assert(unknown.message:find('did you mean `build`', 1, true), 'no suggestion: ' .. unknown.message)

  -- 3. Hover on a stage id (`build` in `depends_on: [build, lint]`, line 14).
  assert(lines[14]:find('depends_on: [build, lint]', 1, true), 'line 14 changed: ' .. lines[14])
  local col = lines[14]:find('build', 1, true) - 1
  local response = vim.lsp.buf_request_sync(bufnr, 'textDocument/hover',
    { textDocument = { uri = uri }, position = { line = 13, character = col + 2 } }, WAIT)
  local hover = response and response[client.id] and response[client.id].result
  assert(hover and hover.contents, 'no hover: ' .. vim.inspect(response))
  local text = hover.contents.value or hover.contents
  log('  hover: ' .. (tostring(text):gsub('\n+', ' | ')))
  assert(type(text) == 'string' and text:find('`build`', 1, true) and text:find('compile', 1, true),
    'hover text does not describe stage build: ' .. vim.inspect(text))
  assert(vim.deep_equal(hover.range, { start = { line = 13, character = col }, ['end'] = { line = 13, character = col + 5 } }),
    'hover range: ' .. vim.inspect(hover.range))

  -- 4. Fix the unknown dependency (an incremental didChange) and wait for it to go.
  vim.api.nvim_buf_set_text(bufnr, 9, 17, 9, 22, { 'build' })
  local version = vim.lsp.util.buf_versions[bufnr]
  wait_for('diagnostics of the fixed text', function()
    return published[uri].version == version
  end)
  local codes = vim.tbl_map(function(d)
    return d.code
  end, vim.diagnostic.get(bufnr))
  log('  after the fix: ' .. table.concat(sorted(codes), ', '))
  assert(not vim.tbl_contains(codes, 'unknown-dependency'), 'unknown-dependency still reported after the fix')
  -- Only the misspelling goes: `test` consumes `artefact`, which no stage provides whatever its
  -- dependencies, so that stays, as does the rest.
  assert(vim.tbl_contains(codes, 'unprovided-resource'), 'unprovided-resource went with the fix')
  assert(#codes == #expected - 1, 'other diagnostics changed: ' .. vim.inspect(codes))

  -- 5. Completion of stage ids inside `depends_on: [` of a new stage (textDocument/completion).
  local all_stages = { 'build', 'test', 'lint', 'package', 'docs', 'deploy' }
  local last = vim.api.nvim_buf_line_count(bufnr)
  vim.api.nvim_buf_set_lines(bufnr, last, last, false,
    { '  - id: release', '    script: compile', '    with: { profile: release }', '    depends_on: []' })
  local function complete(lnum, text_before_cursor, line_text)
    vim.api.nvim_buf_set_lines(bufnr, lnum, lnum + 1, false, { line_text or text_before_cursor })
    local params = { textDocument = { uri = uri }, position = { line = lnum, character = #text_before_cursor } }
    local result = vim.lsp.buf_request_sync(bufnr, 'textDocument/completion', params, WAIT)
    local r = result and result[client.id]
    assert(r and not r.err, 'completion failed: ' .. vim.inspect(result))
    local items = r.result and (r.result.items or r.result) or {}
    return vim.tbl_map(function(item)
      return item.label
    end, items), items
  end
  local dep = last + 3
  -- `[|]` as an auto-pairing editor leaves it: every stage but the new one (and `build` once).
  local labels = complete(dep, '    depends_on: [', '    depends_on: []')
  log('  completion in `depends_on: [|]`: ' .. table.concat(labels, ', '))
  assert_set('completion in `depends_on: [|]`', labels, all_stages)
  -- `[|` as typed without auto-pairs (the file does not parse there): the same.
  labels = complete(dep, '    depends_on: [')
  assert_set('completion in `depends_on: [|`', labels, all_stages)
  -- After an id already listed: that id is not offered again; the typed prefix is what gets replaced.
  local items
  local before_prefix = '    depends_on: [docs, '
  labels, items = complete(dep, before_prefix .. 'pa', before_prefix .. 'pa]')
  -- The server offers the ids that have the typed characters in order, as editors filter.
  assert_set('completion in `depends_on: [docs, pa|]`', labels, { 'package' })
  local package = vim.iter(items):find(function(item)
    return item.label == 'package'
  end)
  local edit = package.textEdit
  assert(edit and edit.newText == 'package' and vim.deep_equal(edit.range,
    { start = { line = dep, character = #before_prefix }, ['end'] = { line = dep, character = #before_prefix + 2 } }),
    'textEdit of package: ' .. vim.inspect(edit))

  -- 6. The same as a user types it: `o`, `depends_on: [` opens the menu (trigger character),
  --    `bu` narrows it, CTRL-N CTRL-Y accepts, `]` closes the list.
  vim.api.nvim_buf_set_lines(bufnr, dep, dep + 1, false, {})
  vim.api.nvim_win_set_cursor(0, { dep, 0 }) -- the `with:` line of the new stage
  vim.o.showmode = false -- keep `-- INSERT --` and `match 1 of 6` out of the output
  vim.opt.shortmess:append('c')
  vim.api.nvim_feedkeys(vim.keycode('odepends_on: ['), 'nt', false)
  wait_for('the completion menu after `[`', function()
    return vim.fn.pumvisible() == 1
  end)
  local words = vim.tbl_map(function(item)
    return item.word
  end, vim.fn.complete_info({ 'items' }).items)
  log('  menu after typing `depends_on: [`: ' .. table.concat(words, ', '))
  assert_set('completion menu', words, all_stages)
  vim.api.nvim_feedkeys('bu', 'nt', false)
  wait_for('the menu to narrow to build', function()
    return vim.api.nvim_get_current_line():find('%[bu$') and vim.fn.pumvisible() == 1
      and vim.fn.pum_getpos().size == 1 -- the menu shows one entry for `bu`
  end)
  vim.api.nvim_feedkeys(vim.keycode('<C-n><C-y>]<Esc>'), 'nt', false)
  wait_for('normal mode', function()
    return vim.api.nvim_get_mode().mode == 'n'
  end)
  local typed = vim.api.nvim_buf_get_lines(bufnr, dep, dep + 1, false)[1]
  assert(typed == '    depends_on: [build]', 'typed line is ' .. vim.inspect(typed))
  version = vim.lsp.util.buf_versions[bufnr]
  wait_for('diagnostics of the typed text', function()
    return published[uri].version == version
  end)
  assert(#vim.diagnostic.get(bufnr) == #expected - 1, 'the typed stage has diagnostics: '
    .. vim.inspect(vim.diagnostic.get(bufnr, { lnum = dep })))

  -- 7. Columns after multi-byte text: the client and server agree on the position encoding, UTF-8
  --    (what Neovim offers first) and UTF-16 (a second client that offers only that).
  local mb = '  - { name: "🚀 Ünïcode 漢字", id: mb, script: compile, with: { profile: debug }, depends_on: [nope] }'
  vim.api.nvim_buf_set_lines(bufnr, -1, -1, false, { mb })
  local mb_lnum = vim.api.nvim_buf_line_count(bufnr) - 1
  local byte = mb:find('nope', 1, true) - 1
  version = vim.lsp.util.buf_versions[bufnr]
  wait_for('diagnostics of the multi-byte line', function()
    return published[uri].version == version
  end)
  local nope = vim.diagnostic.get(bufnr, { lnum = mb_lnum })[1]
  assert(nope and nope.code == 'unknown-dependency' and nope.col == byte and nope.end_col == byte + 4,
    ('multi-byte line (utf-8): %s, want unknown-dependency at byte %d'):format(vim.inspect(nope), byte))
  local utf16_id = vim.lsp.start({
    name = 'weft-utf16',
    cmd = client.config.cmd,
    root_dir = dir,
    capabilities = vim.tbl_deep_extend('force', vim.lsp.protocol.make_client_capabilities(),
      { general = { positionEncodings = { 'utf-16' } } }),
  }, { bufnr = bufnr })
  local utf16 = wait_for('the utf-16 client', function()
    local c = vim.lsp.get_client_by_id(utf16_id)
    return c and c.initialized and c
  end)
  assert(utf16.offset_encoding == 'utf-16', 'second client negotiated ' .. utf16.offset_encoding)
  local namespace = vim.lsp.diagnostic.get_namespace(utf16_id)
  nope = wait_for('utf-16 diagnostics of the multi-byte line', function()
    return vim.diagnostic.get(bufnr, { namespace = namespace, lnum = mb_lnum })[1]
  end)
  assert(nope.code == 'unknown-dependency' and nope.col == byte and nope.end_col == byte + 4,
    ('multi-byte line (utf-16): %s, want unknown-dependency at byte %d'):format(vim.inspect(nope), byte))
  utf16:stop()

  -- 8. Code lenses, once the server offers them (SPEC §9): the config refreshes and shows them.
  if client.server_capabilities.codeLensProvider then
    wait_for('code lenses', function()
      return #vim.lsp.codelens.get(bufnr) > 0
    end)
    log('  code lenses: ' .. #vim.lsp.codelens.get(bufnr))
  else
    log('  code lenses: not offered by the server yet')
  end

  -- 9. Content detection: another .yaml with a top-level workflow_id is a weft file; plain YAML is not.
  local other = dir .. '/other.yaml'
  vim.fn.writefile({ 'workflow_id: other', 'stages:', '  - id: a', '    script: compile',
    '    with: { profile: debug }', '    depends_on: [zzz]' }, other)
  vim.fn.writefile({ 'key: value' }, dir .. '/plain.yaml')
  vim.cmd.edit(vim.fn.fnameescape(dir .. '/plain.yaml'))
  assert(vim.bo.filetype == 'yaml', 'plain.yaml has filetype ' .. vim.bo.filetype)
  vim.cmd.edit(vim.fn.fnameescape(other))
  local other_buf = vim.api.nvim_get_current_buf()
  assert(vim.bo[other_buf].filetype == 'yaml.weft', 'other.yaml has filetype ' .. vim.bo[other_buf].filetype)
  wait_for('a diagnostic in other.yaml', function()
    local d = vim.diagnostic.get(other_buf)[1]
    return d and d.code == 'unknown-dependency' and d.lnum == 5
  end)
  assert(#vim.lsp.get_clients({ name = 'weft' }) == 1, 'a second weft server was started for the same root')
  assert(#vim.lsp.get_clients({ bufnr = vim.fn.bufnr(dir .. '/plain.yaml') }) == 0, 'weft attached to plain YAML')
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
