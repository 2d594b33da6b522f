package main

// twoMasks mask two fields of the viewed collection: the name and the
// avatar of the users the impersonated views read.
var twoMasks = map[string][]string{"users": {"name", "avatar"}}

// compareMasked alternates rounds of impersonated views of the users' own
// records under a policy that masks nothing (A) and one that masks two of
// their fields (B), the policy changed between rounds (a change applies
// from the next request), and compares their median requests per second:
// ratio = B / A, met when masking costs at most 5 % of the impersonated
// throughput. It returns the rounds of both, all impersonated, whose
// answers the audit counts; the policy masks nothing afterwards.
func compareMasked(name string, f *fixtures, views target, o options) (comparison, []round, error) {
	var rounds []round
	var aRates, bRates []float64
	for range o.rounds {
		for _, masks := range []map[string][]string{nil, twoMasks} {
			if err := f.setMasks(masks); err != nil {
				return comparison{}, rounds, err
			}
			r := load(views, o.clients, o.roundTime)
			rounds = append(rounds, r)
			if masks == nil {
				aRates = append(aRates, r.perSecond)
			} else {
				bRates = append(bRates, r.perSecond)
			}
		}
	}
	if err := f.setMasks(nil); err != nil {
		return comparison{}, rounds, err
	}
	c := comparison{
		Name: name, A: "impersonated, nothing masked", B: "impersonated, two fields masked", Unit: "req/s",
		AValue: median(aRates), BValue: median(bRates), Goal: "≥ 0.95",
	}
	c.Ratio = c.BValue / c.AValue
	c.Met = c.Ratio >= 0.95
	for _, r := range rounds {
		c.Requests += r.requests
		c.Failures += r.failures
	}
	return c, rounds, nil
}

// setMasks sets the maskedFields of the users policy of f's server.
func (f *fixtures) setMasks(masks map[string][]string) error {
	return f.updateUsersPolicy(map[string]any{"maskedFields": masks})
}
