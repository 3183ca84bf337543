-- wrk script: checks every response of a fixed request.
--
--   wrk ... -s bench/wrk/check.lua <url> -- <expected status> <text the body must contain>
--
-- Counts responses that have another status or lack the text, and prints one machine-readable line
-- from done():  BENCH_CHECK ok=<n> bad=<n> first_bad=<status>
-- wrk gives each thread its own Lua state, so the counters are globals of the thread states, read
-- back through the thread objects that setup() collected (the setup/done state is a third one).

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   expected_status = tonumber(args[1]) or 200
   expected_text = args[2] or ""
   ok = 0
   bad = 0
   first_bad = ""
end

function response(status, headers, body)
   -- plain find (4th argument): the text is not a Lua pattern
   if status == expected_status and (expected_text == "" or (body and string.find(body, expected_text, 1, true))) then
      ok = ok + 1
   else
      bad = bad + 1
      if first_bad == "" then
         first_bad = tostring(status)
      end
   end
end

function done(summary, latency, requests)
   local total_ok, total_bad, first = 0, 0, ""
   for _, thread in ipairs(threads) do
      total_ok = total_ok + (thread:get("ok") or 0)
      total_bad = total_bad + (thread:get("bad") or 0)
      local f = thread:get("first_bad") or ""
      if first == "" and f ~= "" then
         first = f
      end
   end
   io.write(string.format("BENCH_CHECK ok=%d bad=%d first_bad=%s\n", total_ok, total_bad, first == "" and "-" or first))
end
