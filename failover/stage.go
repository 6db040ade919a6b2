package failover

// Stage is where the phone stands in the failover cycle (docs/ARCHITECTURE.md, "Stages and their rules"). The manager holds exactly one.
type Stage string

// The five stages.
const (
	// StageNormal: registered on the home server.
	StageNormal Stage = "normal"
	// StageTransition: the server in use was lost; looking for another ("limbo").
	StageTransition Stage = "transition"
	// StageAlternate: registered and active on an alternate server.
	StageAlternate Stage = "alternate"
	// StageFailback: home is back; registration is moving back to it.
	StageFailback Stage = "failback"
	// StageNoService: no server reachable (or logged off); retrying with backoff.
	StageNoService Stage = "noservice"
)

// Stages lists every stage in the order of the design table.
var Stages = []Stage{StageNormal, StageTransition, StageAlternate, StageFailback, StageNoService}
