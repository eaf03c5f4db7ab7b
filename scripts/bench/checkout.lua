-- wrk script: the checkout call for an order of 3 products; one buyer in ten ordered before.
dofile("scripts/bench/threads.lua")
count_non_200()
local counter = 0

function init(args)
  token = os.getenv("SHOP_TOKEN")
  math.randomseed(id * 7919)
end

request = function()
  counter = counter + 1
  local email
  if counter % 10 == 0 then
    email = "earlier" .. (counter % 1000) .. "@bench.example"
  else
    email = "buyer" .. id .. "x" .. counter .. "@bench.example"
  end
  local body = string.format(
    '{"point_of_sale":"web","email":"%s","language":"en","product_ids":["EV%05d","EV%05d","EV%05d"]}',
    email, math.random(0, 9999), math.random(0, 9999), math.random(0, 9999))
  return wrk.format("POST", "/api/v1/checkout/optins",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
