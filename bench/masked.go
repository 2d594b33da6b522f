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
	c, rounds, err := compareToggled(name, "impersonated, nothing masked", "impersonated, two fields masked", views, o,
		func(masked bool) error {
			if masked {
				return f.setMasks(twoMasks)
			}
			return f.setMasks(nil)
		})
	if err != nil {
		return c, rounds, err
	}
	return c, rounds, f.setMasks(nil)
}

// setMasks sets the maskedFields of the users policy of f's server.
func (f *fixtures) setMasks(masks map[string][]string) error {
	return f.updateUsersPolicy(map[string]any{"maskedFields": masks})
}
