-- wrk script: trigger calls for 2,000 contacts in turn (a repeating automation).
dofile("scripts/bench/threads.lua")
count_non_200()
local counter = 0

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
