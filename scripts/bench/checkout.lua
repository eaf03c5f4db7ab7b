-- wrk script: the checkout call for an order of 3 products; one buyer in ten ordered before.
local counter = 0
local threads = {}
bad = 0

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

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

response = function(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
  end
end

done = function(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + t:get("bad")
  end
  io.write(string.format("answers other than 200: %d\n", total))
end
