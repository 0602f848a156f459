-- What the Neovim test scripts share: logging, the verdict, a global timeout, and waiting in a
-- coroutine that yields to Neovim's main loop (so fed keys are typed as a user types them).
-- Loaded by each script with dofile, next to it.

local function log(...)
  local parts = {}
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    parts[#parts + 1] = type(v) == 'string' and v or vim.inspect(v)
  end
  io.stdout:write(table.concat(parts, ' ') .. '\n')
  io.stdout:flush()
end

local function finish(ok, err)
  if ok then
    log('PASS')
    vim.cmd('qall!')
  else
    log('\nFAIL: ' .. tostring(err)) -- on a line of its own, after any message Neovim printed
    vim.cmd('cquit 1')
  end
end

-- Never hang: headless Neovim sits forever on an uncaught error.
vim.defer_fn(function()
  log('FAIL: global timeout (60 s)')
  os.exit(1)
end, 60000)

local WAIT = 10000 -- ms for any single wait

--- Yields to the main loop until pred() is true; errors after `ms` with `what`.
local function wait_for(what, pred, ms)
  local deadline = vim.uv.now() + (ms or WAIT)
  while true do
    local value = pred()
    if value then
      return value
    end
    if vim.uv.now() > deadline then
      error('timed out waiting for ' .. what, 2)
    end
    local me = coroutine.running()
    vim.defer_fn(function()
      coroutine.resume(me)
    end, 20)
    coroutine.yield()
  end
end

return { log = log, finish = finish, wait_for = wait_for, WAIT = WAIT }
