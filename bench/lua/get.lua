-- GET one path (given on wrk's command line); the summary as JSON.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
