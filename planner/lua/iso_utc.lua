-- iso_utc: an epoch instant as Python's datetime.isoformat() prints it in UTC, the form
-- every stored instant has ('YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00'; the fraction only when
-- it is not zero). Lua in Redis has no date library: the date comes from the day number
-- with the civil-from-days algorithm (H. Hinnant), exact for every proleptic Gregorian day.
--
-- ARGV[1]  epoch microseconds, an integer in decimal (>= 0)
-- Returns  the ISO 8601 text
local us = tonumber(ARGV[1])
local secs = math.floor(us / 1000000)
local frac = us - secs * 1000000
local days = math.floor(secs / 86400)
local rem = secs - days * 86400
local z = days + 719468
local era = math.floor(z / 146097)
local doe = z - era * 146097
local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
  - math.floor(doe / 146096)) / 365)
local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
local mp = math.floor((5 * doy + 2) / 153)
local day = doy - math.floor((153 * mp + 2) / 5) + 1
local month = mp < 10 and mp + 3 or mp - 9
local year = yoe + era * 400
if month <= 2 then year = year + 1 end
local text = string.format('%04d-%02d-%02dT%02d:%02d:%02d', year, month, day,
  math.floor(rem / 3600), math.floor(rem % 3600 / 60), rem % 60)
if frac > 0 then
  text = text .. string.format('.%06d', frac)
end
return text .. '+00:00'
