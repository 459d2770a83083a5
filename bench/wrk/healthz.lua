-- GET /healthz: the floor. Only the shared failure counting and report.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")
