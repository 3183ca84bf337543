-- wrk script: logins through the real form, each with a fresh session and CSRF token.
--
--   wrk ... -s bench/wrk/login.lua http://host:port -- <login prefix> <users> <password> <origin> [form cookie name]
--
-- Logs in as <login prefix>1 .. <login prefix><users> in turn, all with <password>: a login storm is
-- many people logging in, and one name is throttled like one person (every attempt is counted
-- before its password is checked, so dozens of parallel logins as one name would lock it).
--
-- Every login is two requests: GET /login without a cookie (the app writes nothing: it sets a signed
-- cookie holding a visitor's CSRF token and puts that token in the form), then POST /login with that
-- cookie, that token and an Origin header, which must answer 303 to /dashboard.
--
-- wrk's request() and response() are per thread, not per connection: a thread's connections share
-- one Lua state, and request() does not say which connection it is for. So instead of pairing
-- requests by connection, every form a GET brings back goes into the thread's queue of unused
-- (cookie, token) pairs, and the next request() of any connection of that thread POSTs the oldest
-- one; with none waiting it GETs a new form. A token is bound to its cookie, not to a TCP
-- connection, so this is exactly what browsers do, and each token is used once.
--
-- done() prints:  BENCH_LOGIN logins=<n> forms=<n> bad=<n> first_bad=<status> seconds=<s> logins_per_second=<r>

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_index", #threads)
end

local function urlencode(s)
   return (string.gsub(s, "[^%w%-%._~]", function(c)
      return string.format("%%%02X", string.byte(c))
   end))
end

-- wrk hands headers over as a table keyed by the name as received (actix sends lower case); when a
-- name repeats, the last value wins. Look the name up case-insensitively.
local function header(headers, name)
   name = string.lower(name)
   for key, value in pairs(headers) do
      if string.lower(key) == name then
         return value
      end
   end
   return nil
end

function init(args)
   login_prefix, users = args[1], tonumber(args[2])
   local password = args[3]
   origin = args[4]
   cookie_name = args[5] or "gatehouse_csrf"
   -- the name as a Lua pattern ("__Host-gatehouse_csrf" has a "-", a pattern quantifier)
   cookie_pattern = string.gsub(cookie_name, "%p", "%%%0") .. "=([^;]+)"
   password_field = "&password=" .. urlencode(password) .. "&csrf_token="
   -- threads start at different users, so no name has more than a couple of logins in flight
   next_user = ((thread_index or 1) - 1) * 7

   queue, head, tail = {}, 1, 0
   logins, forms, bad, first_bad = 0, 0, 0, ""
end

function request()
   if head <= tail then
      local pair = queue[head]
      queue[head] = nil
      head = head + 1
      next_user = next_user + 1
      return wrk.format("POST", "/login", {
         ["Cookie"] = cookie_name .. "=" .. pair.cookie,
         ["Origin"] = origin,
         ["Content-Type"] = "application/x-www-form-urlencoded",
      }, "login=" .. urlencode(login_prefix .. (next_user % users + 1)) .. password_field .. pair.token)
   end
   return wrk.format("GET", "/login", {})
end

local function wrong(status)
   bad = bad + 1
   if first_bad == "" then
      first_bad = tostring(status)
   end
end

function response(status, headers, body)
   if status == 200 then
      -- the login form: a visitor token cookie and the same token in the form
      local token = body and string.match(body, 'name="csrf_token" value="(%x+)"')
      local set_cookie = header(headers, "set-cookie")
      local cookie = set_cookie and string.match(set_cookie, cookie_pattern)
      if token and cookie then
         forms = forms + 1
         tail = tail + 1
         queue[tail] = { cookie = cookie, token = token }
      else
         wrong("200-without-form")
      end
   elseif status == 303 then
      local location = header(headers, "location") or ""
      if string.match(location, "/dashboard$") then
         logins = logins + 1
      else
         wrong("303-to-" .. string.gsub(location, "%s", "_"))
      end
   else
      wrong(status)
   end
end

function done(summary, latency, requests)
   local total_logins, total_forms, total_bad, first = 0, 0, 0, ""
   for _, thread in ipairs(threads) do
      total_logins = total_logins + (thread:get("logins") or 0)
      total_forms = total_forms + (thread:get("forms") or 0)
      total_bad = total_bad + (thread:get("bad") or 0)
      local f = thread:get("first_bad") or ""
      if first == "" and f ~= "" then
         first = f
      end
   end
   local seconds = summary.duration / 1e6
   io.write(string.format("BENCH_LOGIN logins=%d forms=%d bad=%d first_bad=%s seconds=%.3f logins_per_second=%.2f\n",
      total_logins, total_forms, total_bad, first == "" and "-" or first, seconds, total_logins / seconds))
end
