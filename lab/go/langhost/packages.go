package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// listDistributions prints, as JSON, every installed distribution with its
// normalized name, its version and the pulumi-plugin.json its top-level module
// ships, if any (by the convention pulumi-foo -> pulumi_foo/pulumi-plugin.json).
const listDistributions = `
import importlib.metadata as md, json, os, re
seen, out = set(), []
for d in md.distributions():
    name = re.sub(r"[-_.]+", "-", (d.metadata["Name"] or "").lower())
    if not name or name in seen:
        continue
    seen.add(name)
    plugin = None
    path = d.locate_file(os.path.join(name.replace("-", "_"), "pulumi-plugin.json"))
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            plugin = json.load(f)
    out.append({"name": name, "version": d.version, "plugin": plugin})
print(json.dumps(out))
`

// Packages named like providers that have no plugin.
var withoutPlugin = map[string]bool{"pulumi-policy": true, "pulumi-esc-sdk": true}

type distribution struct {
	Name    string                   `json:"name"`
	Version string                   `json:"version"`
	Plugin  *plugin.PulumiPluginJSON `json:"plugin"`
}

// GetRequiredPackages reports the resource plugins of the Pulumi packages
// installed for the program, creating its virtualenv first if it is missing.
// The engine makes sure these plugins are installed before it runs the program.
func (h *host) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	tc, _, err := pythonToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}

	info, errs, closer, err := engineLog(ctx, h.engine())
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	if err := tc.EnsureVenv(ctx, req.GetInfo().GetProgramDirectory(), false, /*useLanguageVersionTools*/
		true /*showOutput*/, info, errs); err != nil {
		return nil, err
	}

	cmd, err := tc.Command(ctx, "-c", listDistributions)
	if err != nil {
		return nil, err
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the installed Python packages: %w", err)
	}
	var dists []distribution
	if err := json.Unmarshal(out, &dists); err != nil {
		return nil, fmt.Errorf("reading the list of installed Python packages: %w", err)
	}

	var pkgs []*pulumirpc.PackageDependency
	for _, d := range dists {
		if p := packageOf(d); p != nil {
			pkgs = append(pkgs, p)
		}
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: pkgs}, nil
}

// packageOf returns the resource plugin a distribution needs, or nil: a
// pulumi-plugin.json decides; without one, a name pulumi-<name> stands for
// plugin <name> at the distribution's version.
func packageOf(d distribution) *pulumirpc.PackageDependency {
	var name, version, server string
	var param *pulumirpc.PackageParameterization
	switch {
	case d.Plugin != nil:
		if !d.Plugin.Resource {
			return nil
		}
		name, version, server = d.Plugin.Name, d.Plugin.Version, d.Plugin.Server
		if p := d.Plugin.Parameterization; p != nil {
			param = &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: p.Value}
		}
	case strings.HasPrefix(d.Name, "pulumi-") && !withoutPlugin[d.Name]:
	default:
		return nil
	}
	if name == "" {
		name = strings.TrimPrefix(d.Name, "pulumi-")
	}
	if version == "" {
		v, ok := pluginVersion(d.Version)
		if !ok {
			logging.V(5).Infof("no plugin version derivable from %s %s; skipped", d.Name, d.Version)
			return nil
		}
		version = v
	}
	if !strings.HasPrefix(version, "v") {
		version = "v" + version
	}
	return &pulumirpc.PackageDependency{
		Kind: "resource", Name: name, Version: version, Server: server, Parameterization: param,
	}
}

var pep440 = regexp.MustCompile(`^(\d+(?:\.\d+)*)(?:(a|b|rc)(\d+))?$`)

// pluginVersion turns the plain PEP 440 versions providers publish (1.2,
// 1.2.3, 1.2.3a4, 1.2.3rc4) into semver; other forms are not derivable.
func pluginVersion(pep string) (string, bool) {
	m := pep440.FindStringSubmatch(pep)
	if m == nil {
		return "", false
	}
	parts := strings.Split(m[1], ".")
	for len(parts) < 3 {
		parts = append(parts, "0")
	}
	v := strings.Join(parts, ".")
	switch m[2] {
	case "a":
		v += "-alpha." + m[3]
	case "b":
		v += "-beta." + m[3]
	case "rc":
		v += "-rc." + m[3]
	}
	return v, true
}
