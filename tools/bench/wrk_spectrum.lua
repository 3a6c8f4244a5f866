-- wrk script: at the end of a run, writes wrk's latency distribution as the
-- CSV `loadgen --latency_out` writes (header `percentile,latency_us`, 137
-- rows: 0..90 by 1, 90..99 by 0.5, 99..99.9 by 0.1, 99.9..99.99 by 0.01,
-- 99.99..99.999 by 0.001, then 100 = the maximum), so plot_latency.py can
-- draw wrk runs beside loadgen runs. The file is $WRK_SPECTRUM_OUT; nothing
-- is written when it is unset. Only done() is defined, so wrk keeps its
-- fast path (no Lua call per request or response).
--
--   WRK_SPECTRUM_OUT=c64.csv wrk -t1 -c64 -d5s -s wrk_spectrum.lua URL
--
-- wrk's latencies are closed-loop (from each request's send, not from a
-- schedule): compare them between servers of one run, not with loadgen's.

local function rows()
  local out = {}
  local function range(from, to, step)
    local n = math.floor((to - from) / step + 0.5)
    for i = 0, n - 1 do out[#out + 1] = from + i * step end
  end
  range(0, 90, 1)
  range(90, 99, 0.5)
  range(99, 99.9, 0.1)
  range(99.9, 99.99, 0.01)
  range(99.99, 99.999, 0.001)
  out[#out + 1] = 99.999
  out[#out + 1] = 100
  return out
end

done = function(summary, latency, requests)
  local path = os.getenv("WRK_SPECTRUM_OUT")
  if path == nil or path == "" then return end
  local f = io.open(path, "w")
  if f == nil then return end
  f:write("percentile,latency_us\n")
  for _, p in ipairs(rows()) do
    local v = 0
    if summary.requests > 0 then
      if p >= 100 then v = latency.max else v = latency:percentile(p) end
    end
    f:write(string.format("%.3f,%d\n", p, v))
  end
  f:close()
end
