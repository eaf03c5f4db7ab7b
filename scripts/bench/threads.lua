-- Shared by the wrk scripts of scripts/bench: numbers the threads (each gets `id`) and, at the
-- end, reports how many answers each thread counted as bad (`bad`) under the label `what`.
threads = {}
bad = 0

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function report_bad(what)
  done = function(summary, latency, requests)
    local total = 0
    for _, t in ipairs(threads) do
      total = total + t:get("bad")
    end
    io.write(string.format("%s: %d\n", what, total))
  end
end

-- Counts answers whose HTTP status is not 200.
function count_non_200()
  response = function(status, headers, body)
    if status ~= 200 then
      bad = bad + 1
    end
  end
  report_bad("answers other than 200")
end
