-- GET /api/student-progress?sessionToken=: a random existing session.
function request()
  return wrk.format("GET", "/api/student-progress?sessionToken=" .. tokens[math.random(#tokens)])
end
