-- wrk script: POSTs the Stager opt-in endpoint with a distinct address per request.
dofile("scripts/bench/threads.lua")
local counter = 0

function init(args)
  token = os.getenv("OPTIN_TOKEN")
end

request = function()
  counter = counter + 1
  return wrk.format("POST", "/api/ticketshop/optin/register?token=" .. token ..
    "&email=fan" .. id .. "x" .. counter .. "%40bench.example", {}, "")
end
