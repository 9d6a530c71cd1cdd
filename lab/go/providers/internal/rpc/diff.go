package rpc

import (
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Diff compares the old inputs with the checked new ones, the way pulumi-go-provider's
// infer does: a structural diff of the input properties only, reported property by
// property (so `pulumi preview --diff` names what changed). A change under a key for
// which replaces(key) holds is a replacement, any other change an update. Unknown new
// values (preview) differ from any known old value, so they count as changes.
func Diff(
	olds, news resource.PropertyMap, inputKeys []string, ignore []string, replaces func(string) bool,
) *pulumirpc.DiffResponse {
	oldInputs := resource.PropertyMap{}
	newInputs := resource.PropertyMap{}
	for _, k := range inputKeys {
		key := resource.PropertyKey(k)
		if v, ok := olds[key]; ok {
			oldInputs[key] = v
		}
		if v, ok := news[key]; ok {
			newInputs[key] = v
		}
	}
	for _, k := range ignore {
		key := resource.PropertyKey(k)
		if v, ok := oldInputs[key]; ok {
			newInputs[key] = v
		} else {
			delete(newInputs, key)
		}
	}

	objDiff := oldInputs.Diff(newInputs)
	detailed := map[string]*pulumirpc.PropertyDiff{}
	replaceKeys := map[string]bool{}
	changedKeys := map[string]bool{}
	for path, d := range plugin.NewDetailedDiffFromObjectDiff(objDiff, false) {
		top := topKey(path)
		kind := d.Kind
		if replaces(top) {
			kind = kind.AsReplace()
			replaceKeys[top] = true
		}
		changedKeys[top] = true
		detailed[path] = &pulumirpc.PropertyDiff{Kind: rpcKind(kind), InputDiff: d.InputDiff}
	}

	changes := pulumirpc.DiffResponse_DIFF_NONE
	if objDiff != nil && objDiff.AnyChanges() {
		changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return &pulumirpc.DiffResponse{
		Changes:         changes,
		Replaces:        sortedSet(replaceKeys),
		Diffs:           sortedSet(changedKeys),
		DetailedDiff:    detailed,
		HasDetailedDiff: true,
	}
}

// topKey is the top-level property of a detailed-diff path ("connection.host" -> "connection").
func topKey(path string) string {
	p, err := resource.ParsePropertyPath(path)
	if err != nil || len(p) == 0 {
		return path
	}
	if s, ok := p[0].(string); ok {
		return s
	}
	return path
}

func rpcKind(k plugin.DiffKind) pulumirpc.PropertyDiff_Kind {
	switch k {
	case plugin.DiffAdd:
		return pulumirpc.PropertyDiff_ADD
	case plugin.DiffAddReplace:
		return pulumirpc.PropertyDiff_ADD_REPLACE
	case plugin.DiffDelete:
		return pulumirpc.PropertyDiff_DELETE
	case plugin.DiffDeleteReplace:
		return pulumirpc.PropertyDiff_DELETE_REPLACE
	case plugin.DiffUpdateReplace:
		return pulumirpc.PropertyDiff_UPDATE_REPLACE
	default:
		return pulumirpc.PropertyDiff_UPDATE
	}
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
