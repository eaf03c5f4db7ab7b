-- wrk script: trigger calls for 2,000 contacts in turn (a repeating automation).
local counter = 0
local threads = {}
bad = 0

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  token = os.getenv("TRIGGER_TOKEN")
  code = os.getenv("TRIGGER_CODE")
end

request = function()
  counter = counter + 1
  local body = string.format('{"externalContactId":"C%d","automationFields":[{"name":"order","values":["O-%d-%d"]}]}',
    (counter * 7 + id) % 2000, id, counter)
  return wrk.format("POST", "/api/v1/automations/trigger/" .. code,
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
