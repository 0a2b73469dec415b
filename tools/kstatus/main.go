// Command kstatus prints what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute), the library Flux's
// health checks and `kubectl`-adjacent tools use, says about Kubernetes objects.
//
// It reads JSON on stdin: one object, a JSON array of objects, or a `List` (`kubectl get -o json`), and writes a
// JSON array with one result per object, in input order:
//
//	[{"kind": "SharingGrant", "namespace": "ns", "name": "g", "status": "Current", "message": "...",
//	  "conditions": [...]}]
//
// `status` is one of InProgress, Failed, Current, Terminating, Unknown. camfleet's tests run it over the
// statuses the operator's status functions produce and over objects the operator wrote in a real cluster
// (tests/unit/test_kstatus.py, tests/integration/test_argocd_health.py).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kjson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Kind       string             `json:"kind"`
	Namespace  string             `json:"namespace,omitempty"`
	Name       string             `json:"name"`
	Status     string             `json:"status"`
	Message    string             `json:"message"`
	Conditions []status.Condition `json:"conditions"`
}

// objects accepts one object, an array of objects, or a List with items. Apimachinery's JSON decoding keeps
// whole numbers as int64, as the API machinery does (kstatus reads generations as int64).
func objects(input []byte) ([]map[string]interface{}, error) {
	var many []map[string]interface{}
	if err := kjson.Unmarshal(input, &many); err == nil {
		return many, nil
	}
	var one map[string]interface{}
	if err := kjson.Unmarshal(input, &one); err != nil {
		return nil, fmt.Errorf("stdin is neither a JSON object nor an array of objects: %w", err)
	}
	items, isList := one["items"].([]interface{})
	if !isList {
		return []map[string]interface{}{one}, nil
	}
	for index, item := range items {
		obj, ok := item.(map[string]interface{})
		if !ok {
			return nil, fmt.Errorf("items[%d] is not an object", index)
		}
		many = append(many, obj)
	}
	return many, nil
}

func compute(obj map[string]interface{}) (result, error) {
	u := &unstructured.Unstructured{Object: obj}
	computed, err := status.Compute(u)
	if err != nil {
		return result{}, fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	conditions := computed.Conditions
	if conditions == nil {
		conditions = []status.Condition{}
	}
	return result{
		Kind:       u.GetKind(),
		Namespace:  u.GetNamespace(),
		Name:       u.GetName(),
		Status:     computed.Status.String(),
		Message:    computed.Message,
		Conditions: conditions,
	}, nil
}

func run(stdin io.Reader, stdout io.Writer) error {
	input, err := io.ReadAll(stdin)
	if err != nil {
		return err
	}
	found, err := objects(input)
	if err != nil {
		return err
	}
	results := make([]result, 0, len(found))
	for _, obj := range found {
		computed, err := compute(obj)
		if err != nil {
			return err
		}
		results = append(results, computed)
	}
	encoder := json.NewEncoder(stdout)
	encoder.SetIndent("", "  ")
	return encoder.Encode(results)
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}
