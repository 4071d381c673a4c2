package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/sqldb"
)

const (
	k8sDir      = "../../deploy/kubernetes"
	composeFile = "../../deploy/compose/compose.yaml"
	// imageUser is the image's numeric user (deploy/container/Dockerfile).
	imageUser = 65532
)

// k8sKinds are the only objects deploy/kubernetes may hold, each decoded
// into its k8s.io/api type. A Secret is not among them: secret values never
// live in the repository.
var k8sKinds = map[string]func() any{
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
	"networking.k8s.io/v1/Ingress":           func() any { return &networkingv1.Ingress{} },
}

// decodeManifests reads every document of every .yaml file in dir strictly:
// an unknown or duplicated field, or a kind not in k8sKinds, is an error.
func decodeManifests(dir string) ([]any, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no manifests in %s: %v", dir, err)
	}
	var objs []any
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			obj, err := decodeManifest(doc)
			if err != nil {
				return nil, fmt.Errorf("%s, document %d: %w", filepath.Base(f), i+1, err)
			}
			if obj != nil {
				objs = append(objs, obj)
			}
		}
	}
	return objs, nil
}

func decodeManifest(doc []byte) (any, error) {
	var tm struct{ APIVersion, Kind string }
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	if tm.APIVersion == "" && tm.Kind == "" {
		return nil, nil // a document of comments only
	}
	mk, ok := k8sKinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("kind %s/%s is not expected here", tm.APIVersion, tm.Kind)
	}
	obj := mk()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func only[T any](t *testing.T, objs []any) T {
	t.Helper()
	var found []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("want one %T in deploy/kubernetes, found %d", zero, len(found))
	}
	return found[0]
}

// readmeSecrets are the rows of the README's table of the Secret's keys
// ("| `access-log-key` | `KOMMUNGRAF_ACCESS_LOG_KEY` | ..."): key → variable.
func readmeSecrets(t *testing.T) (string, map[string]string) {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start := strings.Index(text, "\n## Deploy\n")
	if start < 0 {
		t.Fatal("README.md has no ## Deploy section")
	}
	text = text[start+1:]
	if end := strings.Index(text[3:], "\n## "); end >= 0 {
		text = text[:end+3]
	}
	name := regexp.MustCompile("the Secret `([a-z0-9-]+)`").FindStringSubmatch(text)
	if name == nil {
		t.Fatal("README's Deploy section names no Secret (\"the Secret `name`\")")
	}
	keys := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\| `([A-Z0-9_]+)` \\|").FindAllStringSubmatch(text, -1) {
		keys[m[1]] = m[2]
	}
	if len(keys) == 0 {
		t.Fatal("README's Deploy section lists no keys of the Secret")
	}
	return name[1], keys
}

// placeholder is a value of the right shape for a secret the test does not
// have: Parse checks the shape of URLs, not whether they answer.
func placeholder(env string) string {
	switch {
	case strings.Contains(env, "REDIS_URL"):
		return "redis://redis.kommungraf.svc:6379/0"
	case strings.HasSuffix(env, "DATABASE_URL"):
		return "postgres://kommungraf@postgresql.kommungraf.svc:5432/kommungraf?sslmode=verify-full"
	case strings.HasSuffix(env, "_KEY") || strings.HasSuffix(env, "_KEYS"): // base64 of 32 bytes
		return base64.StdEncoding.EncodeToString([]byte("placeholder-" + strings.ToLower(env) + "-0123456789abcdef")[:32])
	default:
		return "placeholder-" + strings.ToLower(env)
	}
}

// configVars are the ${VAR}s of a configuration file that have no default.
func configVars(raw string) []string {
	var vars []string
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`).FindAllStringSubmatch(raw, -1) {
		if m[2] == "" && !slices.Contains(vars, m[1]) {
			vars = append(vars, m[1])
		}
	}
	return vars
}

func addrPort(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(p, 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return int32(n)
}

// under reports whether path p lies in one of dirs.
func under(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}

// writtenPaths are the files the gateway writes with cfg.
func writtenPaths(cfg *config.Config) []string {
	return []string{cfg.Authz.PolicyStoreFile, cfg.Authz.AccessLog.File, cfg.Authz.AccessLog.Spool}
}

// TestKubernetesManifests decodes deploy/kubernetes strictly into the
// k8s.io/api types and checks what a reviewer would: a non-root, read-only,
// capability-free pod with probes on the gateway's own health paths, the
// config file that the gateway's config.Parse accepts, secrets referenced by
// name only and listed in the README, the grace period above the drain, and
// a NetworkPolicy that admits only the ingress controller (and Prometheus)
// and lets out only what the configuration talks to. It then starts a
// gateway with that configuration (its upstreams pointed at the simulators,
// its databases at a temp dir) and asks it the probes' paths.
func TestKubernetesManifests(t *testing.T) {
	objs, err := decodeManifests(k8sDir)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("strict decoding refuses an unknown field", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(k8sDir, "deployment.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		typo := bytes.Replace(raw, []byte("readinessProbe:"), []byte("readinesProbe:"), 1)
		if _, err := decodeManifest(typo); err == nil || !strings.Contains(err.Error(), `unknown field "readinesProbe"`) {
			t.Fatalf("a misspelt field decoded: %v", err)
		}
		if _, err := decodeManifest([]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: kommungraf}\nstringData: {a: b}\n")); err == nil {
			t.Fatal("a Secret decoded: secret values do not belong in the repository")
		}
	})

	dep := only[*appsv1.Deployment](t, objs)
	cm := only[*corev1.ConfigMap](t, objs)
	svc := only[*corev1.Service](t, objs)
	hpa := only[*autoscalingv2.HorizontalPodAutoscaler](t, objs)
	pdb := only[*policyv1.PodDisruptionBudget](t, objs)
	np := only[*networkingv1.NetworkPolicy](t, objs)
	ing := only[*networkingv1.Ingress](t, objs)

	pod := dep.Spec.Template.Spec
	podLabels := dep.Spec.Template.Labels
	matches := func(what string, sel map[string]string) {
		t.Helper()
		if len(sel) == 0 {
			t.Errorf("%s selects every pod", what)
		}
		for k, v := range sel {
			if podLabels[k] != v {
				t.Errorf("%s selects %s=%s, which the gateway's pods do not carry (%v)", what, k, v, podLabels)
			}
		}
	}
	matches("the Deployment", dep.Spec.Selector.MatchLabels)
	matches("the Service", svc.Spec.Selector)
	matches("the PodDisruptionBudget", pdb.Spec.Selector.MatchLabels)
	matches("the NetworkPolicy", np.Spec.PodSelector.MatchLabels)

	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, have %d", len(pod.Containers))
	}
	c := pod.Containers[0]

	// Non-root, read-only, no capabilities, RuntimeDefault seccomp.
	psc, csc := pod.SecurityContext, c.SecurityContext
	if psc == nil || csc == nil {
		t.Fatal("pod and container need a securityContext")
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != imageUser || psc.FSGroup == nil || *psc.FSGroup != imageUser {
		t.Errorf("pod securityContext %+v: want runAsNonRoot, runAsUser and fsGroup %d", psc, imageUser)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccompProfile %+v, want RuntimeDefault", psc.SeccompProfile)
	}
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		(csc.Privileged != nil && *csc.Privileged) || csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) > 0 {
		t.Errorf("container securityContext %+v: want a read-only root, no privilege escalation, every capability dropped", csc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the gateway does not talk to the Kubernetes API: automountServiceAccountToken must be false")
	}

	// Requests and limits for CPU and memory, requests within limits.
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[res]
		lim, okLim := c.Resources.Limits[res]
		if !okReq || !okLim || req.Cmp(lim) > 0 {
			t.Errorf("%s: request %v, limit %v: want both, request ≤ limit", res, req.String(), lim.String())
		}
	}

	// The configuration: mounted from the ConfigMap at --config's path.
	cfgPath := ""
	for i, a := range c.Args {
		if a == "--config" && i+1 < len(c.Args) {
			cfgPath = c.Args[i+1]
		}
	}
	if len(c.Args) == 0 || c.Args[0] != "serve" || cfgPath == "" {
		t.Fatalf("args %v: want serve --config FILE", c.Args)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	cfgMount, ok := mounts[path.Dir(cfgPath)]
	if !ok || !cfgMount.ReadOnly || volumes[cfgMount.Name].ConfigMap == nil || volumes[cfgMount.Name].ConfigMap.Name != cm.Name {
		t.Fatalf("%s is not mounted read-only from the ConfigMap %s", path.Dir(cfgPath), cm.Name)
	}
	rawCfg, ok := cm.Data[path.Base(cfgPath)]
	if !ok {
		t.Fatalf("the ConfigMap has no key %s", path.Base(cfgPath))
	}

	// Writable mounts: emptyDirs, /tmp among them.
	var writable []string
	for p, m := range mounts {
		if v := volumes[m.Name]; !m.ReadOnly && v.EmptyDir != nil {
			if v.EmptyDir.SizeLimit == nil {
				t.Errorf("emptyDir %s has no sizeLimit", m.Name)
			}
			writable = append(writable, p)
		}
	}
	if !slices.Contains(writable, "/tmp") {
		t.Error("no writable /tmp: the root filesystem is read-only")
	}

	// Secrets by reference, each listed in the README.
	secretName, readme := readmeSecrets(t)
	env := map[string]string{}
	referenced := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if ref.Name != secretName {
				t.Errorf("%s comes from the Secret %q; the README documents %q", e.Name, ref.Name, secretName)
			}
			if readme[ref.Key] != e.Name {
				t.Errorf("%s comes from key %q, which the README's table does not give to %s", e.Name, ref.Key, e.Name)
			}
			if ref.Optional != nil && *ref.Optional {
				t.Errorf("%s: a required secret must not be optional", e.Name)
			}
			referenced[ref.Key] = e.Name
			env[e.Name] = placeholder(e.Name)
		case e.ValueFrom != nil:
			t.Errorf("%s: only secretKeyRef is expected", e.Name)
		default:
			if regexp.MustCompile(`(?i)key|secret|password|token|_url$`).MatchString(e.Name) {
				t.Errorf("%s has an inline value; a secret comes from the Secret %s", e.Name, secretName)
			}
			env[e.Name] = e.Value
		}
	}
	for key, name := range readme {
		if referenced[key] != name {
			t.Errorf("the README lists %s → %s, which the Deployment does not use", key, name)
		}
	}
	if len(c.EnvFrom) > 0 {
		t.Error("envFrom hides which variables the pod gets: list them")
	}
	for _, v := range configVars(rawCfg) {
		if _, ok := env[v]; !ok {
			t.Errorf("the configuration needs ${%s}, which the Deployment does not set", v)
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := config.Parse([]byte(rawCfg))
	if err != nil {
		t.Fatalf("the ConfigMap's configuration: %v", err)
	}

	// The port, the probes and the drain.
	port := addrPort(t, cfg.Server.Addr)
	var http_ *corev1.ContainerPort
	for i := range c.Ports {
		if c.Ports[i].Name == "http" {
			http_ = &c.Ports[i]
		}
	}
	if http_ == nil || http_.ContainerPort != port {
		t.Fatalf("container port http %+v, want server.addr's port %d", http_, port)
	}
	probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
	wantPath := map[string]string{"startup": "/healthz", "liveness": "/healthz", "readiness": "/readyz"}
	for name, p := range probes {
		if p == nil || p.HTTPGet == nil {
			t.Fatalf("%s probe: want an httpGet", name)
		}
		if p.HTTPGet.Path != wantPath[name] || (p.HTTPGet.Port.String() != "http" && p.HTTPGet.Port.IntValue() != int(port)) {
			t.Errorf("%s probe GET %s on %s, want %s on the http port", name, p.HTTPGet.Path, p.HTTPGet.Port.String(), wantPath[name])
		}
	}
	preStop := time.Duration(0)
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= preStop+cfg.Server.ShutdownTimeout {
		t.Errorf("terminationGracePeriodSeconds must exceed the preStop pause %v plus server.shutdownTimeout %v", preStop, cfg.Server.ShutdownTimeout)
	}
	for _, p := range writtenPaths(cfg) {
		if !under(p, writable) {
			t.Errorf("the gateway writes %s, which is on the read-only root filesystem (writable: %v)", p, writable)
		}
	}
	if cfg.Authz.PolicyDatabaseURL == "" || cfg.Authz.AccessLog.DatabaseURL == "" || cfg.Redis.URL == "" {
		t.Error("replicas need the shared policy store, access log database and Redis")
	}

	// Service, Ingress, HPA, PDB.
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("service ports %+v: want one, to the http port", svc.Spec.Ports)
	}
	if ing.Spec.IngressClassName == nil || len(ing.Spec.Rules) == 0 {
		t.Fatal("the Ingress needs a class and a rule")
	}
	for _, r := range ing.Spec.Rules {
		for _, p := range r.HTTP.Paths {
			if b := p.Backend.Service; b == nil || b.Name != svc.Name || b.Port.Name != svc.Spec.Ports[0].Name {
				t.Errorf("ingress path %s goes to %+v, not the Service", p.Path, p.Backend)
			}
		}
	}
	if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != dep.Name || ref.APIVersion != "apps/v1" {
		t.Errorf("the HPA scales %+v", ref)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
		t.Errorf("HPA replicas %v..%d: want at least 2", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != *hpa.Spec.MinReplicas {
		t.Errorf("the Deployment's replicas %v differ from the HPA's minimum", dep.Spec.Replicas)
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 || pdb.Spec.MinAvailable.IntValue() >= int(*hpa.Spec.MinReplicas) {
		t.Errorf("PDB minAvailable %v: want at least 1 and below the HPA's minimum, so a node can drain", pdb.Spec.MinAvailable)
	}

	checkNetworkPolicy(t, np, cfg, port)

	// The probes' paths, asked of a gateway running this configuration.
	base := serveManifestConfig(t, cfg)
	for name, p := range probes {
		resp, err := http.Get(base + p.HTTPGet.Path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s probe %s: %d %s", name, p.HTTPGet.Path, resp.StatusCode, body)
		}
	}
}

// checkNetworkPolicy: in, only the ingress controller's and Prometheus's
// namespaces on the HTTP port; out, only DNS and the ports of what the
// configuration talks to.
func checkNetworkPolicy(t *testing.T, np *networkingv1.NetworkPolicy, cfg *config.Config, port int32) {
	t.Helper()
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Fatalf("policyTypes %v: want Ingress and Egress", np.Spec.PolicyTypes)
	}
	sources := map[string]bool{}
	for _, r := range np.Spec.Ingress {
		if len(r.From) == 0 || len(r.Ports) == 0 {
			t.Errorf("ingress rule %+v admits every source or port", r)
		}
		for _, p := range r.Ports {
			if p.Port == nil || (p.Port.String() != "http" && p.Port.IntValue() != int(port)) {
				t.Errorf("ingress on port %v, want only the http port", p.Port)
			}
		}
		for _, f := range r.From {
			ns := ""
			if f.NamespaceSelector != nil {
				ns = f.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
			}
			if f.IPBlock != nil || ns == "" || (ns != "ingress-nginx" && ns != "monitoring") {
				t.Errorf("ingress from %+v: want the ingress controller's or Prometheus's namespace only", f)
			}
			sources[ns] = true
		}
	}
	if !sources["ingress-nginx"] {
		t.Error("the ingress controller's namespace is not admitted")
	}
	type pp struct {
		proto string
		port  int
	}
	allowed := map[pp]bool{}
	for _, r := range np.Spec.Egress {
		if len(r.To) == 0 || len(r.Ports) == 0 {
			t.Errorf("egress rule %+v lets out to every destination or port", r)
		}
		for _, p := range r.Ports {
			proto := "TCP"
			if p.Protocol != nil {
				proto = string(*p.Protocol)
			}
			allowed[pp{proto, p.Port.IntValue()}] = true
		}
	}
	urlPort := func(raw string) int {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if p := u.Port(); p != "" {
			n, _ := strconv.Atoi(p)
			return n
		}
		return map[string]int{"https": 443, "http": 80, "postgres": 5432, "redis": 6379}[u.Scheme]
	}
	want := map[pp]string{{"UDP", 53}: "DNS", {"TCP", 53}: "DNS"}
	for what, u := range map[string]string{
		"folkbokforing": cfg.Sources.Folkbokforing.URL, "etjanst": cfg.Sources.Etjanst.URL, "geodata": cfg.Sources.Geodata.URL,
		"the OIDC issuer": cfg.Auth.OIDC.JWKSURL, "the OTLP collector": cfg.Tracing.Endpoint,
		"Redis": placeholder("KOMMUNGRAF_REDIS_URL"), "PostgreSQL": placeholder("KOMMUNGRAF_DATABASE_URL"),
	} {
		want[pp{"TCP", urlPort(u)}] = what
	}
	for name, d := range cfg.Sources.Declared {
		if d.URL != "" {
			want[pp{"TCP", urlPort(d.URL)}] = name
		}
	}
	for p, what := range want {
		if !allowed[p] {
			t.Errorf("egress does not allow %s %d (%s)", p.proto, p.port, what)
		}
	}
	for p := range allowed {
		if _, ok := want[p]; !ok {
			t.Errorf("egress allows %s %d, which nothing in the configuration uses", p.proto, p.port)
		}
	}
}

// serveManifestConfig starts a gateway with cfg, a configuration from the
// manifests, with its upstreams at the simulators and its state in a temp
// dir: the services that cfg names by placeholder are not there.
func serveManifestConfig(t *testing.T, cfg *config.Config) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(config.EnvAccessLogKey, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	ctx := context.Background()
	world := sim.NewWorld(sim.WorldOptions{Seed: 5, People: 200})
	s := &cfg.Sources
	s.Skoldatabas.Driver, s.Skoldatabas.DSN = "sqlite", filepath.Join(dir, "skola.db")
	store, err := sqldb.Open(ctx, sqldb.Options{Driver: "sqlite", DSN: s.Skoldatabas.DSN})
	if err != nil {
		t.Fatal(err)
	}
	err = sim.SeedSchoolDB(ctx, store, world)
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	running, err := sim.Start(ctx, sim.Options{World: world})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { running.Close() })
	s.Folkbokforing.URL, s.Etjanst.URL, s.Geodata.URL = running.NavetURL, running.ETjanstURL, running.GeodataURL
	s.Folkbokforing.BestallningsID = sim.DefaultOrder
	for name, d := range s.Declared {
		d.URL = running.URL(name)
		s.Declared[name] = d
	}
	cfg.Redis.URL = ""
	cfg.Auth.OIDC = config.OIDC{}
	cfg.Tracing.Endpoint = ""
	cfg.Authz.PolicyDatabaseURL, cfg.Authz.AccessLog.DatabaseURL = "", ""
	cfg.Authz.PolicyStoreFile = filepath.Join(dir, "policy.db")
	cfg.Authz.AccessLog.File = filepath.Join(dir, "access.jsonl")
	cfg.Authz.AccessLog.Spool = filepath.Join(dir, "access.spool.jsonl")
	base, _ := serveGateway(t, cfg, gateway.Options{})
	return base
}

// composeEnv are the secrets `docker compose` takes from its environment.
func composeEnv(secret string) []string {
	return []string{"POSTGRES_PASSWORD=" + secret, "KOMMUNGRAF_ACCESS_LOG_KEY=" + secret, "KOMMUNGRAF_CACHE_KEYS=" + secret}
}

func loadCompose(t *testing.T, env []string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{composeFile}, cli.WithEnv(env), cli.WithName("kommungraf"))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

// TestComposeFile loads deploy/compose/compose.yaml with compose-go (the
// compose specification's own loader and schema) and checks it: two
// read-only, non-root gateway replicas with health checks that the image
// can run, each with its own data volume and the configuration that the
// gateway's config.Parse accepts; nginx routing to both; every dependency
// waited for; every secret taken from the environment.
func TestComposeFile(t *testing.T) {
	if _, err := loadCompose(t, nil); err == nil || !strings.Contains(err.Error(), "set POSTGRES_PASSWORD") {
		t.Fatalf("without its secrets compose must refuse to start: %v", err)
	}
	p, err := loadCompose(t, composeEnv("s3cret-one"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := loadCompose(t, composeEnv("s3cret-two"))
	if err != nil {
		t.Fatal(err)
	}
	image := ""
	var gateways []types.ServiceConfig
	for _, s := range p.Services {
		if len(s.Command) > 0 && s.Command[0] == "serve" {
			gateways = append(gateways, s)
			image = s.Image
		}
	}
	if len(gateways) < 2 {
		t.Fatalf("%d gateway services, want two replicas", len(gateways))
	}

	// Secrets: every value that looks like one comes from the environment.
	secretish := regexp.MustCompile(`(?i)password|secret|key|token|database_url`)
	for name, s := range p.Services {
		for k, v := range s.Environment {
			if secretish.MatchString(k) && v != nil && *v == *other.Services[name].Environment[k] {
				t.Errorf("%s: %s=%q is written in the file; take it from the environment", name, k, *v)
			}
		}
	}

	// The load balancer's upstreams are exactly the gateway replicas.
	nginx, err := os.ReadFile(filepath.Join(filepath.Dir(composeFile), "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	upstream := regexp.MustCompile(`(?s)upstream kommungraf \{(.*?)\}`).FindSubmatch(nginx)
	if upstream == nil {
		t.Fatal("nginx.conf has no upstream kommungraf")
	}
	var routed []string
	for _, m := range regexp.MustCompile(`server ([a-z0-9-]+):(\d+)`).FindAllSubmatch(upstream[1], -1) {
		routed = append(routed, string(m[1])+":"+string(m[2]))
	}

	healthy := func(name string) bool {
		s, ok := p.Services[name]
		return ok && s.HealthCheck != nil && !s.HealthCheck.Disable && len(s.HealthCheck.Test) > 0
	}
	var want []string
	for _, g := range gateways {
		t.Run(g.Name, func(t *testing.T) {
			if !g.ReadOnly || g.User != fmt.Sprintf("%d:%d", imageUser, imageUser) || !slices.Equal(g.CapDrop, []string{"ALL"}) ||
				!slices.Contains(g.SecurityOpt, "no-new-privileges:true") {
				t.Errorf("read_only %v, user %q, cap_drop %v, security_opt %v: want a read-only root, user %d, no capabilities, no-new-privileges",
					g.ReadOnly, g.User, g.CapDrop, g.SecurityOpt, imageUser)
			}
			if len(g.Ports) > 0 {
				t.Errorf("a replica publishes %v: only the load balancer is reached from outside", g.Ports)
			}
			writable := []string{}
			for _, tmp := range g.Tmpfs {
				writable = append(writable, strings.SplitN(tmp, ":", 2)[0])
			}
			if !slices.Contains(writable, "/tmp") {
				t.Error("no tmpfs on /tmp")
			}
			cfgFile := ""
			for _, v := range g.Volumes {
				switch {
				case v.Type == types.VolumeTypeVolume:
					writable = append(writable, v.Target)
					for _, o := range gateways {
						for _, ov := range o.Volumes {
							if o.Name != g.Name && ov.Type == types.VolumeTypeVolume && ov.Source == v.Source {
								t.Errorf("volume %s is shared with %s: the access log spool is one process's", v.Source, o.Name)
							}
						}
					}
				case v.Type == types.VolumeTypeBind && v.Target == "/etc/kommungraf/kommungraf.yaml":
					if !v.ReadOnly {
						t.Error("the configuration is mounted writable")
					}
					cfgFile = v.Source
				}
			}
			if !slices.Equal(g.Command, []string{"serve", "--config", "/etc/kommungraf/kommungraf.yaml"}) || cfgFile == "" {
				t.Fatalf("command %v, configuration from %q", g.Command, cfgFile)
			}
			raw, err := os.ReadFile(cfgFile)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range configVars(string(raw)) {
				if _, ok := g.Environment[v]; !ok {
					t.Errorf("the configuration needs ${%s}, which the service does not set", v)
				}
			}
			for k, v := range g.Environment {
				if v != nil {
					t.Setenv(k, *v)
				}
			}
			cfg, err := config.Parse(raw)
			if err != nil {
				t.Fatalf("%s: %v", cfgFile, err)
			}
			port := addrPort(t, cfg.Server.Addr)
			want = append(want, fmt.Sprintf("%s:%d", g.Name, port))
			for _, w := range writtenPaths(cfg) {
				if !under(w, writable) {
					t.Errorf("the gateway writes %s, on the read-only root (writable: %v)", w, writable)
				}
			}
			if cfg.Authz.PolicyDatabaseURL == "" || cfg.Authz.AccessLog.DatabaseURL == "" || cfg.Redis.URL == "" {
				t.Error("two replicas need the shared policy store, access log database and Redis")
			}
			if g.StopGracePeriod == nil || time.Duration(*g.StopGracePeriod) <= cfg.Server.ShutdownTimeout {
				t.Errorf("stop_grace_period %v must exceed server.shutdownTimeout %v", g.StopGracePeriod, cfg.Server.ShutdownTimeout)
			}
			hc := g.HealthCheck
			wantTest := []string{"CMD", "/usr/local/bin/kommungraf", "probe", fmt.Sprintf("http://127.0.0.1:%d/readyz", port)}
			if hc == nil || !slices.Equal(hc.Test, wantTest) {
				t.Errorf("healthcheck %+v, want %v (the image has no shell or curl)", hc, wantTest)
			}
			// Every upstream is a service of the file, waited for until healthy.
			for _, u := range []string{cfg.Sources.Folkbokforing.URL, cfg.Sources.Etjanst.URL, cfg.Sources.Geodata.URL, cfg.Tracing.Endpoint} {
				pu, err := url.Parse(u)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := p.Services[pu.Hostname()]; !ok {
					t.Errorf("%s names %s, which is not a service of the file", u, pu.Hostname())
				}
				if _, ok := g.DependsOn[pu.Hostname()]; !ok {
					t.Errorf("%s does not depend on %s", g.Name, pu.Hostname())
				}
			}
			if len(g.DependsOn) == 0 {
				t.Error("no depends_on")
			}
			for dep, d := range g.DependsOn {
				switch {
				case healthy(dep) && d.Condition != types.ServiceConditionHealthy:
					t.Errorf("depends on %s with %q: it has a healthcheck, wait for service_healthy", dep, d.Condition)
				case !healthy(dep) && d.Condition != types.ServiceConditionStarted:
					t.Errorf("depends on %s with %q, which has no healthcheck", dep, d.Condition)
				}
			}
			for _, need := range []string{"postgres", "redis", "sim"} {
				if g.DependsOn[need].Condition != types.ServiceConditionHealthy {
					t.Errorf("%s must wait for %s to be healthy", g.Name, need)
				}
			}
		})
	}
	slices.Sort(routed)
	slices.Sort(want)
	if !slices.Equal(routed, want) {
		t.Errorf("nginx routes to %v, want the replicas %v", routed, want)
	}
	lb := p.Services["lb"]
	if len(lb.Ports) != 1 || !healthy("lb") {
		t.Errorf("the load balancer publishes %v, healthcheck %v: want one port and a healthcheck", lb.Ports, lb.HealthCheck)
	}
	for _, g := range gateways {
		if lb.DependsOn[g.Name].Condition != types.ServiceConditionHealthy {
			t.Errorf("lb does not wait for %s to be healthy", g.Name)
		}
	}

	// The simulators run from the same image and listen where the gateway looks.
	simSvc, ok := p.Services["sim"]
	if !ok || simSvc.Image != image || len(simSvc.Command) == 0 || simSvc.Command[0] != "sim" || !healthy("sim") || !simSvc.ReadOnly {
		t.Fatalf("sim: %+v", simSvc)
	}
	for _, flagAddr := range []string{"--navet-addr 0.0.0.0:8081", "--etjanst-addr 0.0.0.0:8082", "--geodata-addr 0.0.0.0:8083", "--avfall-addr 0.0.0.0:8084"} {
		if !strings.Contains(strings.Join(simSvc.Command, " "), flagAddr) {
			t.Errorf("sim does not listen with %s", flagAddr)
		}
	}
	// Every service but the collector (its image has nothing to probe with) has a healthcheck.
	for name := range p.Services {
		if name != "otel-collector" && !healthy(name) {
			t.Errorf("%s has no healthcheck", name)
		}
	}
}
