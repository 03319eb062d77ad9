-- wrk script for bench/bench_api.py --ratios: cycle through pre-signed requests.
-- args: <file> <threads>. The file holds one raw HTTP request per line with CRLF written as "|".
-- Thread k takes lines k, k+threads, ... so no two threads send the same nonce.
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local threads = tonumber(args[2])
  reqs = {}
  local k = 0
  for line in io.lines(args[1]) do
    if k % threads == id then
      reqs[#reqs + 1] = line:gsub("|", "\r\n")
    end
    k = k + 1
  end
  i = 0
end

function request()
  i = i + 1
  if i > #reqs then
    i = 1 -- out of fresh requests: from here on replays (counted as non-2xx by wrk)
  end
  return reqs[i]
end
