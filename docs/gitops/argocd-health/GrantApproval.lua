-- Argo CD health check for camfleet.io/v1alpha1 GrantApproval.
-- Install as resource.customizations.health.camfleet.io_GrantApproval in argocd-cm
-- (docs/gitops/argocd-cm-snippet.yaml). Every state and its health: docs/gitops/README.md.
--
-- Progressing: the operator has not reported on the current spec yet, Reconciling=True, or Ready is missing,
--              Unknown or False without a stall.
-- Degraded:    Stalled=True: it cannot proceed until someone changes something; the message is the stall's:
--              IdentityNotRecorded, created while the admission webhook was not serving, so the decision never
--              counts (R15); make a new one.
-- Healthy:     Ready=True: the approver's identity is recorded and the decision counts.
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

-- The health every kind shares, or nil when Ready=True leaves the verdict to the kind's own part. The same
-- order as kstatus (Flux): a status older than the spec, then Stalled=True (only a change helps: Degraded),
-- Reconciling=True (the operator's work is under way: Progressing), then Ready missing, Unknown or False
-- (Progressing; the operator sets Stalled or Reconciling with every Ready=False it writes).
local function shared_health()
  local waiting = not_observed()
  if waiting ~= nil then
    return health("Progressing", waiting)
  end
  local stalled = condition("Stalled")
  if stalled ~= nil and stalled.status == "True" then
    return health("Degraded", describe(stalled))
  end
  local reconciling = condition("Reconciling")
  if reconciling ~= nil and reconciling.status == "True" then
    return health("Progressing", describe(reconciling))
  end
  local ready = condition("Ready")
  if ready == nil then
    return health("Progressing", "waiting for the Ready condition")
  end
  if ready.status ~= "True" then
    return health("Progressing", describe(ready))
  end
  return nil
end
-- ---- end of common part -----------------------------------------------------------------------------

local shared = shared_health()
if shared ~= nil then
  return shared
end
local ready = condition("Ready")
return health("Healthy", ready.message or ready.reason)
