-- POST /api/v1/orders: BTC-USDT limit orders around 10,000.00, each account alternating buy and sell,
-- prices within +-0.30 of the side's own mid (buys at 9,999.90, sells at 10,000.10) so about a third
-- cross, 0.0001 to 0.0050 BTC each; every request carries the next of its thread's tokens.
--   wrk -s orders.lua URL -- TOKENS_FILE SEED
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local placed = {} -- per token: orders so far, for the account's next side

function init(args)
   load_tokens(args[1])
   math.randomseed(tonumber(args[2] or "1") * 1000 + id)
end

-- Global: batch.lua builds its bodies from the same orders.
function order_json()
   placed[token_index] = (placed[token_index] or 0) + 1
   local side = placed[token_index] % 2 == 0 and "buy" or "sell"
   local ticks = 1000000 + math.random(-30, 30) + (side == "sell" and 10 or -10)
   return string.format(
      '{"symbol": "BTC-USDT", "side": "%s", "type": "limit", "price": "%d.%02d", "quantity": "0.%04d"}',
      side, math.floor(ticks / 100), ticks % 100, math.random(1, 50))
end

path = "/api/v1/orders"

function body()
   return order_json()
end

function request()
   local authorization = bearer() -- first: the body's sides follow the token
   return wrk.format("POST", path, {
      ["Authorization"] = authorization,
      ["Content-Type"] = "application/json",
      ["Accept"] = "application/json",
   }, body())
end
