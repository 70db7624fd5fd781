// Reads a Prometheus rule file with Prometheus' own code (model/rulefmt and the PromQL parser of the version pinned
// in go.mod), as Prometheus does when it loads rule_files, and prints each alert with its expression as Prometheus
// reads it. Exits 1, naming the rule, on the first file that does not load. With `test`, runs rule unit test files
// as `promtool test rules` does (promtool_unittest.go: series fed in, alerts expected at given times), exiting 1 when
// one fails. test/deploy/monitoring.spec.ts builds it and runs both on ../alerts.yml and ../alerts.test.yml:
//
//	go build -o ../../../.local/bin/promcheck . && ../../../.local/bin/promcheck ../alerts.yml
//	../../../.local/bin/promcheck test ../alerts.test.yml
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
)

func main() {
	p := parser.NewParser(parser.Options{})
	if len(os.Args) >= 3 && os.Args[1] == "test" {
		// promtool test rules' defaults (no --run, --diff, --debug or --ignore-unknown-fields; no feature flags).
		os.Exit(RulesUnitTest(promqltest.LazyLoaderOpts{EnableAtModifier: true, EnableNegativeOffset: true}, p, nil, false, false, false, os.Args[2:]...))
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: promcheck <rule file> | promcheck test <rule test file>...")
		os.Exit(2)
	}
	groups, errs := rulefmt.ParseFile(os.Args[1], false, model.UTF8Validation, p, slog.Default())
	for _, err := range errs {
		fmt.Println("ERROR:", err)
	}
	if len(errs) > 0 {
		os.Exit(1)
	}
	for _, group := range groups.Groups {
		for _, rule := range group.Rules {
			expr, err := p.ParseExpr(rule.Expr)
			if err != nil {
				fmt.Println("ERROR:", rule.Alert, err)
				os.Exit(1)
			}
			fmt.Printf("%s: %s\n", rule.Alert, expr.String())
		}
	}
}
