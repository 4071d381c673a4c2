package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/sqldb"
)

// The simulators' default listen addresses; deploy/sim.yaml points the
// gateway at them.
const (
	defaultNavetAddr   = "127.0.0.1:8081"
	defaultETjanstAddr = "127.0.0.1:8082"
	defaultGeodataAddr = "127.0.0.1:8083"
	defaultAvfallAddr  = "127.0.0.1:8084"
)

// simulate runs the simulated upstream systems standalone, for a gateway
// started with a config file, for fault drills and for load tests.
func simulate(ctx context.Context, args []string, std stdio) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	navet := fs.String("navet-addr", defaultNavetAddr, "population registry (SOAP) listen address")
	etjanst := fs.String("etjanst-addr", defaultETjanstAddr, "e-service platform (REST) listen address")
	geodata := fs.String("geodata-addr", defaultGeodataAddr, "property register (OGC API) listen address")
	avfall := fs.String("avfall-addr", defaultAvfallAddr, "waste-collection system (REST) listen address")
	seed := fs.Uint64("seed", 1, "seed of the synthetic data")
	people := fs.Int("people", sim.DefaultPeople, "number of synthetic people")
	latency := fs.Duration("latency", 0, "latency added to every call")
	jitter := fs.Duration("jitter", 0, "random extra latency, 0 to this")
	sqlite := fs.String("sqlite", "", "also write the school database to this SQLite file")
	pg := fs.String("database-url", "", "also seed the school database into this PostgreSQL URL")
	fs.Usage = usageFunc(fs, "usage: kommungraf sim [flags]\n  runs the simulated registry, e-service platform, property register and waste-collection system on\n  loopback (and seeds the school database with --sqlite or --database-url); deploy/sim.yaml points a\n  gateway at them (the gateway does not read the waste-collection system yet)")
	if err := parseFlags(fs, args, std); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("sim: unexpected argument %q", fs.Arg(0))}
	}
	world := sim.NewWorld(sim.WorldOptions{Seed: *seed, People: *people})
	for _, db := range []sqldb.Options{{Driver: "sqlite", DSN: *sqlite}, {Driver: "postgres", DSN: *pg}} {
		if db.DSN == "" {
			continue
		}
		store, err := sqldb.Open(ctx, db)
		if err != nil {
			return err
		}
		err = sim.SeedSchoolDB(ctx, store, world)
		store.Close()
		if err != nil {
			return fmt.Errorf("seeding %s: %w", db.Driver, err)
		}
	}
	r, err := sim.Start(ctx, sim.Options{World: world, Latency: *latency, Jitter: *jitter,
		NavetAddr: *navet, ETjanstAddr: *etjanst, GeodataAddr: *geodata, AvfallAddr: *avfall})
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Fprintf(std.err, "simulators (synthetic data, %d people, seed %d):\n  folkbokforing  %s\n  etjanst        %s\n  geodata        %s\n  avfall         %s\ncounters at /__stats, faults at /__faults on each\n",
		len(world.People), *seed, r.NavetURL, r.ETjanstURL, r.GeodataURL, r.AvfallURL)
	if *sqlite != "" {
		fmt.Fprintf(std.err, "a gateway against them (the addresses are deploy/sim.yaml's defaults, or set NAVET_URL, ETJANST_URL, GEODATA_URL):\n"+
			"  KOMMUNGRAF_SIM_SQLITE=%s KOMMUNGRAF_ACCESS_LOG_KEY=$(openssl rand -base64 32) kommungraf serve --config deploy/sim.yaml\n", *sqlite)
	}
	<-ctx.Done()
	return nil
}
