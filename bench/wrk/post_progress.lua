-- POST /api/student-progress: NEW_SHARE of the calls open a new session (a new student by
-- email, step 1); the others update a random step of a random existing session.
local headers = {["Content-Type"] = "application/json"}

function request()
  counter = counter + 1
  local body
  if math.random() < NEW_SHARE then
    local token = string.format("bench_%s_%d_%d", RUN, id, counter)
    body = string.format(
      '{"sessionToken":"%s","studentEmail":"%s@bench.example","studentName":"Bench %d",' ..
      '"stepNumber":1,"timeSpent":%d}', token, token, counter, math.random(0, 300))
  else
    body = string.format(
      '{"sessionToken":"%s","stepNumber":%d,"timeSpent":%d,"completed":%s}',
      tokens[math.random(#tokens)], math.random(1, 9), math.random(0, 300),
      math.random() < 0.3 and "true" or "false")
  end
  return wrk.format("POST", "/api/student-progress", headers, body)
end
