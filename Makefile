# camfleet — `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest -p no:cacheprovider
ARTIFACTS := .artifacts
PHASES := $(ARTIFACTS)/phases.tsv
# Debian packages the simulator's RTSP stream and the recorder tests need.
APT_PACKAGES := ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	gstreamer1.0-plugins-ugly gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gst-1.0 python3-gi

export GOTOOLCHAIN := local
export PYTHONDONTWRITEBYTECODE := 1

# $(call phase,NAME,COMMAND): run COMMAND, print and record how long it took.
define phase
	@mkdir -p $(ARTIFACTS); start=$$(date +%s%N); echo "==> phase $(1)"; \
	$(2); rc=$$?; ms=$$(( ($$(date +%s%N) - start) / 1000000 )); \
	printf '%s\t%d.%03d\t%s\n' "$(1)" $$((ms / 1000)) $$((ms % 1000)) $$([ $$rc = 0 ] && echo ok || echo FAILED) >> $(PHASES); \
	echo "<== phase $(1): $$((ms / 1000)).$$((ms % 1000 / 100))s"; \
	if [ $$rc != 0 ]; then $(PY) tests/report.py $(PHASES) $(ARTIFACTS); exit $$rc; fi
endef

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "camfleet needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	@touch $@

.PHONY: system-packages
system-packages: ## install the Debian packages camfleet's tests need (when missing)
	@command -v go >/dev/null || { echo "Go is required (https://go.dev); not found on PATH" >&2; exit 1; }
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

.PHONY: setup
setup: system-packages $(VENV)/.installed ## virtual environment, Python and Debian packages

.PHONY: controlplane
controlplane: setup ## build (once, cached by version) kube-apiserver, etcd, kwok, helm, MediaMTX and the kstatus helper from Go modules
	$(PY) -m camfleet.devcluster build

.PHONY: cluster cluster-down
cluster: controlplane ## start the local control plane (kwokctl, binary runtime, loopback only)
	$(PY) -m camfleet.devcluster up
cluster-down: ## stop the local control plane
	$(PY) -m camfleet.devcluster down

.PHONY: crds crds-check
crds: setup ## regenerate crds/ from the pydantic models
	$(PY) -m camfleet.api.crds write crds
crds-check: setup ## fail when crds/ is stale
	$(PY) -m camfleet.api.crds check crds

.PHONY: lint typecheck unit device integration e2e
lint: setup ## ruff check and ruff format --check
	$(VENV)/bin/ruff check operator tests e2e bench
	$(VENV)/bin/ruff format --check operator tests e2e bench
typecheck: setup ## mypy (strict)
	$(VENV)/bin/mypy
unit: setup ## unit tests (no cluster, ~30 s)
	$(PYTEST) tests/unit --junitxml=$(ARTIFACTS)/junit-unit.xml
device: setup ## the ONVIF client against the simulator, the recorder against real ffmpeg and RTSP
	$(PYTEST) tests/device tests/recorder --junitxml=$(ARTIFACTS)/junit-device.xml
integration: controlplane ## integration tests on a private local control plane (real kube-apiserver, etcd, kwok)
	$(PYTEST) tests/integration --junitxml=$(ARTIFACTS)/junit-integration.xml
e2e: controlplane ## end-to-end tests of e2e/ on the local control plane (make e2e-kind: on kind, operator from the chart)
	$(PYTEST) e2e --junitxml=$(ARTIFACTS)/junit-e2e.xml

.PHONY: test
test: ## set up everything, then lint, typecheck, unit, integration, e2e and fault tests, with phase timings
	@rm -rf $(ARTIFACTS); mkdir -p $(ARTIFACTS)
	$(call phase,setup,$(MAKE) --no-print-directory setup)
	$(call phase,controlplane,$(PY) -m camfleet.devcluster build)
	$(call phase,crds-fresh,$(PY) -m camfleet.api.crds check crds)
	$(call phase,chart-fresh,$(PY) -m camfleet.devcluster.chart_crds check && $(PY) -m camfleet.devcluster.chart_webhooks check)
	$(call phase,lint,$(VENV)/bin/ruff check operator tests e2e bench && $(VENV)/bin/ruff format --check operator tests e2e bench)
	$(call phase,typecheck,$(VENV)/bin/mypy)
	$(call phase,unit,$(PYTEST) tests/unit --junitxml=$(ARTIFACTS)/junit-unit.xml)
	$(call phase,device,$(PYTEST) tests/device tests/recorder --junitxml=$(ARTIFACTS)/junit-device.xml)
	$(call phase,integration,$(PYTEST) tests/integration --junitxml=$(ARTIFACTS)/junit-integration.xml)
	$(call phase,e2e,$(PYTEST) e2e --junitxml=$(ARTIFACTS)/junit-e2e.xml)
	$(call phase,fault,$(PYTEST) -m fault tests/fault --junitxml=$(ARTIFACTS)/junit-fault.xml)
	@$(PY) tests/report.py $(PHASES) $(ARTIFACTS)

.PHONY: fault bench
fault: controlplane ## fault injection: operator crashes, HA takeover, control-plane restarts, device faults, security
	$(PYTEST) -m fault tests/fault --junitxml=$(ARTIFACTS)/junit-fault.xml
bench: controlplane ## benchmarks (print figures, update bench/RESULTS.md): fleet of 1,000 cameras, decision latency
	$(VENV)/bin/pip install --quiet -e '.[test,bench]'
	$(PY) bench/fleet.py --cameras 1000
	$(PY) bench/decision.py

.PHONY: demo demo-down
demo: controlplane ## local control plane + CRDs + example fleet + operator, then the fleet's status table
	$(PY) -m camfleet.devcluster.demo up
demo-down: ## stop the demo's operator and cluster
	$(PY) -m camfleet.devcluster.demo down

CHART := charts/camfleet
HELM = $$($(PY) -m camfleet.devcluster.helm | tail -1)
IMAGE_TAG ?= $(shell sed -nE 's/^appVersion: *"?([^"]+)"?$$/\1/p' $(CHART)/Chart.yaml)
OPERATOR_REPOSITORY ?= $(shell awk '/^image:/{f=1} f&&/repository:/{print $$2; exit}' $(CHART)/values.yaml)
RECORDER_REPOSITORY ?= $(shell awk '/^recorderImage:/{f=1} f&&/repository:/{print $$2; exit}' $(CHART)/values.yaml)
KIND_CLUSTER := camfleet-e2e
KIND_KUBECONFIG := $(ARTIFACTS)/kind.kubeconfig

.PHONY: chart-crds chart-webhooks chart-check images
chart-crds: setup ## copy crds/ (and kopf's peering CRDs) into the chart
	$(PY) -m camfleet.devcluster.chart_crds write
chart-webhooks: setup ## regenerate the chart's admission webhooks from the operator's kopf handlers
	$(PY) -m camfleet.devcluster.chart_webhooks write
chart-check: setup ## fail when the chart's CRDs or webhooks are stale; helm lint with default and full values
	$(PY) -m camfleet.devcluster.chart_crds check
	$(PY) -m camfleet.devcluster.chart_webhooks check
	helm=$(HELM); $$helm lint --strict $(CHART) && $$helm lint --strict $(CHART) --values tests/chart/values-full.yaml
images: ## build the operator and recorder images (needs Docker)
	@docker info >/dev/null 2>&1 || { echo "make images needs a running Docker engine ('docker info' failed)" >&2; exit 1; }
	docker build -f operator/Dockerfile -t $(OPERATOR_REPOSITORY):$(IMAGE_TAG) .
	docker build -f operator/recorder.Dockerfile -t $(RECORDER_REPOSITORY):$(IMAGE_TAG) .

KIND_VERSION ?= v0.33.0
.PHONY: e2e-kind
e2e-kind: setup images ## kind cluster, the images, the chart-installed operator, then e2e/ (needs Docker)
	GOBIN=$(CURDIR)/$(VENV)/bin go install sigs.k8s.io/kind@$(KIND_VERSION)
	@mkdir -p $(ARTIFACTS)
	set -e; helm=$(HELM); \
	trap '$(VENV)/bin/kind export logs $(ARTIFACTS)/kind-logs --name $(KIND_CLUSTER) >/dev/null 2>&1 || true; \
		$(VENV)/bin/kind delete cluster --name $(KIND_CLUSTER)' EXIT; \
	$(VENV)/bin/kind create cluster --name $(KIND_CLUSTER) --kubeconfig $(KIND_KUBECONFIG); \
	$(VENV)/bin/kind load docker-image --name $(KIND_CLUSTER) \
		$(OPERATOR_REPOSITORY):$(IMAGE_TAG) $(RECORDER_REPOSITORY):$(IMAGE_TAG); \
	$$helm install camfleet $(CHART) --kubeconfig $(KIND_KUBECONFIG) --namespace camfleet-system --create-namespace \
		--set image.repository=$(OPERATOR_REPOSITORY),image.tag=$(IMAGE_TAG) \
		--set recorderImage.repository=$(RECORDER_REPOSITORY),recorderImage.tag=$(IMAGE_TAG) \
		--wait --timeout 5m; \
	KUBECONFIG=$(KIND_KUBECONFIG) CAMFLEET_E2E_OPERATOR=in-cluster $(PYTEST) e2e --junitxml=$(ARTIFACTS)/junit-e2e-kind.xml

.PHONY: clean
clean: ## remove the virtual environment and test artifacts (the binary cache stays)
	rm -rf $(VENV) $(ARTIFACTS) .mypy_cache .ruff_cache *.egg-info operator/*.egg-info
