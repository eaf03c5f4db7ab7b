-- wrk script: MailingLijst SUBSCRIBE (single opt-in) with a distinct address per request;
-- counts answers whose responsecode is not 200.
dofile("scripts/bench/threads.lua")
report_bad("answers with a responsecode other than 200")
local counter = 0

function init(args)
  key = os.getenv("ML_KEY")
  list = os.getenv("ML_LIST")
end

request = function()
  counter = counter + 1
  return wrk.format("GET", "/api/?key=" .. key .. "&action=SUBSCRIBE&l=" .. list ..
    "&e=fan" .. id .. "x" .. counter .. "%40bench.example&fn=Fan&n=Bench")
end

response = function(status, headers, body)
  if not string.find(body, "<responsecode>200</responsecode>", 1, true) then
    bad = bad + 1
  end
end
