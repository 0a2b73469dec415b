-- Argo CD health check for camfleet.io/v1alpha1 FootageExport.
-- Install as resource.customizations.health.camfleet.io_FootageExport in argocd-cm
-- (docs/gitops/argocd-cm-snippet.yaml).
--
-- Progressing: the operator has not reported on the current spec yet, Ready is missing or Unknown, or the
--              copy is running (Ready=False Running).
-- Healthy:     Ready=True: the copy and its SHA-256 manifest are complete.
-- Suspended:   Approved=Unknown: waiting for two distinct approvers (R15), or for the classification
--              authority on an unmasked export (R17); people, not the operator, must act.
-- Degraded:    Approved=False (denied), or Ready=False for any other reason: the copy failed, the export
--              volume's storage class is not encrypted, ...

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

-- Ready=False reasons that clear without anyone acting: the copy Job is running.
local PASSING = { Running = true }

local waiting = not_observed()
if waiting ~= nil then
  return health("Progressing", waiting)
end
local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  return health("Healthy", ready.message or ready.reason)
end
local approved = condition("Approved")
if approved ~= nil and approved.status == "Unknown" then
  return health("Suspended", describe(approved))
end
if approved ~= nil and approved.status == "False" then
  return health("Degraded", describe(approved))
end
if ready == nil or ready.status == "Unknown" then
  return health("Progressing", ready and describe(ready) or "waiting for the Ready condition")
end
if PASSING[ready.reason] then
  return health("Progressing", describe(ready))
end
return health("Degraded", describe(ready))
