-- GET /api/student-progress?studentId=: a random existing student (share links).
function request()
  return wrk.format("GET", "/api/student-progress?studentId=" .. students[math.random(#students)])
end
