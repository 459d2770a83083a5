-- Shared by the bench/wrk scripts (loaded with dofile): thread numbering, per-thread Bearer tokens,
-- counting of failed answers, and the one line of JSON that bench/bench_entry.py reads from done().
--
-- wrk runs this file once in its main Lua state (setup, done) and once in each thread's (init,
-- request, response); the two talk only through thread:set / thread:get.

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

-- Per thread: the tokens file (args[1]) holds one line of comma-separated tokens per thread; thread
-- `id` takes line id % lines + 1 and rotates through its tokens, one request each.
tokens = {}
token_index = 0

function load_tokens(path)
   local lines = {}
   for line in io.lines(path) do
      if line ~= "" then
         table.insert(lines, line)
      end
   end
   for token in lines[id % #lines + 1]:gmatch("[^,]+") do
      table.insert(tokens, token)
   end
end

-- The next token: sets token_index, which orders.lua uses to alternate each account's sides.
function bearer()
   token_index = token_index % #tokens + 1
   return "Bearer " .. tokens[token_index]
end

-- Every answer outside 2xx is a failure; so is each `"error"` inside a 2xx answer (a batch answers
-- 200 with an error object in place of a refused order).
failures = 0
item_errors = 0
sample = ""

function response(status, headers, body)
   if status < 200 or status > 299 then
      failures = failures + 1
      if sample == "" then
         sample = status .. " " .. string.sub(body or "", 1, 300)
      end
   elseif count_item_errors and body then
      local _, n = string.gsub(body, '"error"', "")
      if n > 0 then
         item_errors = item_errors + n
         if sample == "" then
            sample = status .. " " .. string.sub(body, 1, 300)
         end
      end
   end
end

function done(summary, latency, requests)
   local failed, refused, samples = 0, 0, {}
   for _, thread in ipairs(threads) do
      failed = failed + thread:get("failures")
      refused = refused + thread:get("item_errors")
      local s = thread:get("sample")
      if s ~= "" then
         table.insert(samples, s)
      end
   end
   local e = summary.errors
   io.write(string.format(
      'WRK-RESULT {"requests": %d, "seconds": %.6f, "p50_ms": %.3f, "p99_ms": %.3f, "failures": %d, '
         .. '"item_errors": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
      summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
      failed, refused, e.connect, e.read, e.write, e.timeout))
   for _, s in ipairs(samples) do
      io.write("WRK-FAILURE ", (string.gsub(s, "\n", " ")), "\n")
   end
end
