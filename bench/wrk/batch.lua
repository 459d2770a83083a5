-- POST /api/v1/orders/batch: bodies of BATCH (20) orders as orders.lua makes them; an error object in
-- the 200 answer counts as a failure (report.lua).
--   wrk -s batch.lua URL -- TOKENS_FILE SEED
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "orders.lua")

local BATCH = 20
count_item_errors = true
path = "/api/v1/orders/batch"

function body()
   local orders = {}
   for i = 1, BATCH do
      orders[i] = order_json()
   end
   return '{"orders": [' .. table.concat(orders, ", ") .. "]}"
end
