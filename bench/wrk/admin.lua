-- GET one admin page with a staff session's cookie, over and over.
--   wrk -s admin.lua URL -- COOKIE PATH
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local req

function init(args)
   req = wrk.format("GET", args[2], { ["Cookie"] = args[1], ["Accept"] = "text/html" })
end

function request()
   return req
end
