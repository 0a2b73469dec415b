-- Argo CD health check for camfleet.io/v1alpha1 Camera.
-- Install as resource.customizations.health.camfleet.io_Camera in argocd-cm (docs/gitops/argocd-cm-snippet.yaml).
--
-- Progressing: the operator has not reported on the current spec yet, or Ready is missing or Unknown, or
--              Ready=False for a reason that passes by itself (device not contacted yet and no error on
--              record, stream URI not known yet, recorder starting).
-- Healthy:     Ready=True. Filed (R5) and Signage (R6) are compliance warnings that never make a camera
--              unhealthy (it still records); a Healthy camera names them in its message.
-- Degraded:    Ready=False for any other reason: unreachable, wrong or missing credentials, clock drift,
--              settings not applied, recording storage refused, ...

-- ---- common part, identical in every camfleet health check ----------------------------------------
-- Argo CD runs health checks in gopher-lua (Lua 5.1) with only the base, table and a safe os library:
-- no string library, so messages are built with `..` alone.

-- The condition of the given type, or nil.
local function condition(wanted)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, found in ipairs(obj.status.conditions) do
    if found.type == wanted then
      return found
    end
  end
  return nil
end

-- "Reason: message", the way `kubectl describe` reads a condition.
local function describe(found)
  local text = found.reason or found.type
  if found.message ~= nil and found.message ~= "" then
    text = text .. ": " .. found.message
  end
  return text
end

-- Why the status cannot be trusted yet, or nil. A status older than metadata.generation describes an
-- older spec; kstatus (Flux) judges "in progress" the same way.
local function not_observed()
  local generation = obj.metadata.generation
  local observed = nil
  if obj.status ~= nil then
    observed = obj.status.observedGeneration
  end
  if observed == nil then
    return "waiting for the camfleet operator to report on this object"
  end
  if generation == nil then
    return nil
  end
  local behind = "waiting for the camfleet operator to act on generation " .. generation
  if observed < generation then
    return behind .. " (status describes generation " .. observed .. ")"
  end
  local ready = condition("Ready")
  if ready ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
    return behind .. " (Ready describes generation " .. ready.observedGeneration .. ")"
  end
  return nil
end

local function health(status, message)
  return { status = status, message = message }
end
-- ---- end of common part -----------------------------------------------------------------------------

-- Ready=False reasons that clear without anyone acting.
local PASSING = { NotContacted = true, WaitingForStream = true, RecorderNotReady = true }
local WARNINGS = { "Filed", "Signage" }

local waiting = not_observed()
if waiting ~= nil then
  return health("Progressing", waiting)
end
local ready = condition("Ready")
if ready == nil or ready.status == "Unknown" then
  return health("Progressing", ready and describe(ready) or "waiting for the Ready condition")
end
if ready.status == "True" then
  local warnings = {}
  for _, kind in ipairs(WARNINGS) do
    local found = condition(kind)
    if found ~= nil and found.status == "False" then
      table.insert(warnings, describe(found))
    end
  end
  if #warnings > 0 then
    return health("Healthy", (ready.message or ready.reason) .. "; warnings: " .. table.concat(warnings, "; "))
  end
  return health("Healthy", ready.message or ready.reason)
end
-- Without usable credentials the device is never contacted (Ready says NotContacted), yet nothing changes
-- until someone fixes the Secret.
local authenticated = condition("Authenticated")
if authenticated ~= nil and authenticated.status == "False" then
  return health("Degraded", describe(authenticated))
end
-- NotContacted with an error on record is a device that fails before sign-in, not a first pass still to come.
local first_pass = ready.reason ~= "NotContacted" or obj.status.lastError == nil
if PASSING[ready.reason] and first_pass then
  return health("Progressing", describe(ready))
end
return health("Degraded", describe(ready))
