-- Hold an idempotent request (GET, HEAD) over the short gap of a site
-- switch, where no site serves: ask the pair's backend through HAProxy's
-- own loopback frontend and, on a 503 (a site that just went passive) or
-- no answer, wait 25 ms and ask again, until the hold runs out; then
-- answer what was last got. HAProxy's own layer-7 retries are taken back
-- to back (about a millisecond apart), so `retries N` alone bridges N
-- milliseconds, not the tens of milliseconds a planned promotion leaves
-- with no active site nor the check interval until HAProxy sees the
-- operator's endpoint flip.
--
-- Set in HAProxy's environment (or edit the defaults below):
--   HOLD_INNER_URL  the loopback frontend in front of the pair's backend
--   HOLD_MS         the longest a request is held, in milliseconds
-- and load it with `lua-load /etc/haproxy/hold.lua` in `global`.
-- Used as it is by the tests (tests/e2e/load_balancer.rs).
local inner = os.getenv("HOLD_INNER_URL") or "http://127.0.0.1:8099"
local hold_ms = tonumber(os.getenv("HOLD_MS") or "3000")
local function now_ms()
  local t = core.now()
  return t.sec * 1000 + t.usec / 1000
end
core.register_service("hold_retry", "http", function(applet)
  local hc = core.httpclient()
  local deadline = now_ms() + hold_ms
  local res
  while true do
    res = hc:get{url = inner .. applet.path .. (applet.qs ~= "" and ("?" .. applet.qs) or ""), timeout = 2000}
    local status = res and res.status or 0
    if status ~= 0 and status ~= 503 then break end
    if now_ms() >= deadline then break end
    core.msleep(25)
  end
  local status = res and res.status or 0
  if status == 0 then status = 503 end
  applet:set_status(status)
  for name, values in pairs(res and res.headers or {}) do
    if name ~= "content-length" and name ~= "connection" and name ~= "transfer-encoding" then
      for _, v in pairs(values) do applet:add_header(name, v) end
    end
  end
  local body = res and res.body or ""
  applet:add_header("content-length", tostring(#body))
  applet:start_response()
  applet:send(body)
end)
