"""A rebalance storm (issue 14, scenario 2): ledger and timer instances join and leave their
consumer groups every few seconds (cooperative-sticky assignment), some leaving gracefully
(SIGTERM), some killed (SIGKILL). The plan is a pure function of the seed, so a seed replays the
same storm; Storm applies it to a rig whose ledger and timer are already running.

    storm = Storm(rig, seed)            # takes rig.procs["ledger"] and ["timer"] as members
    storm.run(seconds, tick=...)        # the plan's steps at their times; tick() in between
    storm.summary()                     # joins, leaves, deadlines handed over ...

soak(rig, seed, seconds) is the whole scenario (test_faults_storm, and `bench/run chaos
--storm-minutes M`): the storm under a load and waiting messages on a fast clock, then the
oracle."""
import json
import random
import signal
import time

from faults import BUILD, WAIT_S, Oracle, wait_until

SERVICES = ("ledger", "timer")
# Seconds between two steps of the storm.
GAP_S = (2.0, 5.0)
# Instances of a service at most; at least one always runs.
MOST = 3
# A member's consumer group session: a killed member's partitions move on after this.
SESSION_MS = 6000


def plan(seed, duration_s, gap_s=GAP_S, most=MOST):
    """[(seconds from the start, service, "join" | "leave" | "kill", member index)]: a pure
    function of the seed and the duration. The index names which running member leaves (in
    the order they joined); a join has index -1."""
    rng = random.Random(seed)
    count = {s: 1 for s in SERVICES}
    out, t = [], rng.uniform(*gap_s) / 2
    while t < duration_s:
        service = rng.choice(SERVICES)
        if count[service] <= 1 or (count[service] < most and rng.random() < 0.4):
            action = "join"
        else:
            action = rng.choice(("leave", "kill"))
        index = -1 if action == "join" else rng.randrange(count[service])
        count[service] += 1 if action == "join" else -1
        out.append((round(t, 2), service, action, index))
        t += rng.uniform(*gap_s)
    return out


def member_settings():
    """What every storm member gets: a short group session, so a killed member's partitions do
    not wait out the 10 s default."""
    return {"kafka.consumer.session.timeout.ms": SESSION_MS,
            "kafka.consumer.heartbeat.interval.ms": 1000}


class Storm:
    def __init__(self, rig, seed):
        self.rig, self.seed = rig, seed
        self.members = {s: [rig.procs[s]] for s in SERVICES}
        self.done = {"join": 0, "leave": 0, "kill": 0}
        self.rebuilds_before = len(self.rebuilds())  # the timers' gains before this storm

    def step(self, service, action, index):
        members = self.members[service]
        if action == "join":
            # A static member (kafka.consumer.group.instance.id) joins under an id of its own.
            static = self.rig.service_settings.get(service, {}).get(
                "kafka.consumer.group.instance.id")
            self.rig.storm_joins = getattr(self.rig, "storm_joins", 0) + 1
            extra = {} if static is None else {
                "kafka.consumer.group.instance.id": f"{static}-storm{self.rig.storm_joins}"}
            members.append(self.rig.spawn(service, wait_ready=False, **extra))
        else:
            proc = members.pop(index)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM if action == "leave" else signal.SIGKILL)
                proc.wait(60)
        self.rig.procs[service] = members[0]
        self.done[action] += 1

    def run(self, duration_s, tick=None, every_s=0.5, gap_s=GAP_S):
        """Applies plan(seed, duration_s, gap_s) in real time; tick(seconds from the start)
        between steps. Returns the plan."""
        steps = plan(self.seed, duration_s, gap_s)
        started = time.monotonic()
        for at, service, action, index in steps:
            while (now := time.monotonic() - started) < at:
                if tick is not None:
                    tick(now)
                time.sleep(min(every_s, max(0.0, at - now)))
            print(f"storm: at {at:6.2f} s {service} {action}"
                  f"{'' if index < 0 else f' member {index}'}", flush=True)
            self.step(service, action, index)
        while (now := time.monotonic() - started) < duration_s:
            if tick is not None:
                tick(now)
            time.sleep(every_s)
        return steps

    def calm(self):
        """Stops every member but the oldest of each service (SIGTERM): the storm is over."""
        for service, members in self.members.items():
            while len(members) > 1:
                self.step(service, "leave", len(members) - 1)

    def settled(self):
        """Every member is ready, and the timers own every partition between them."""
        live = [p for ps in self.members.values() for p in ps]
        if not all(self.rig.ready(p) for p in live):
            return False
        owned = sum(self.rig.metric(p, "okno_timer_partitions") for p in self.members["timer"])
        return owned == self.rig.partitions

    def rebuilds(self):
        """The timers' "deadlines rebuilt" log lines (one per gain of partitions), every
        instance's, in order."""
        log = BUILD / f"{self.rig.s.tag}.timer.log"
        if not log.exists():
            return []
        out = []
        for line in log.read_text(errors="replace").splitlines():
            if '"deadlines rebuilt"' in line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def summary(self):
        # Every gain of partitions during the storm hands their open messages, each with its
        # armed deadline, to a new owner.
        rebuilt = self.rebuilds()[self.rebuilds_before:]
        return {"joins": self.done["join"], "leaves": self.done["leave"],
                "kills": self.done["kill"],
                "rebalances": sum(self.done.values()),
                "timer_partition_gains": len(rebuilt),
                "deadlines_handed_over": sum(int(r.get("heads", 0)) for r in rebuilt)}



# soak(): the clock (clock ms per real ms: a day in 4.3 s, so a 10-day message's moderation
# runs out in 2.2 s and its answer deadline in 43 s), the real seconds a signal may wait past due
# (a killed member's session, two cooperative rounds, the new owner's rebuild, and room for a
# second step on top), the load (records a second; about 7.7 records a message life), and the
# waves of messages that wait in moderation (WAVE every WAVE_S s, half accepted a wave later).
SPEED, GRACE_S, RATE, WAVE, WAVE_S = 20000, 40, 400, 20, 3


def soak(rig, seed, seconds):
    """A storm of `seconds` on rig (not started yet) under load, then the oracle. Returns
    (summary, violations)."""
    rig.fast_clock(SPEED)
    rig.signal_grace_s = GRACE_S
    for service in SERVICES:
        rig.service_settings[service] = member_settings()
    rig.start("ledger", "relay", "projector", "timer")
    storm = Storm(rig, seed)
    load = rig.load(int(RATE * seconds / 7.7), RATE, seed)
    waves = []

    def tick(now):
        if len(waves) <= now / WAVE_S:
            if waves:
                rig.accept(waves[-1][: WAVE // 2])
            waves.append(rig.submit(WAVE, category=2, first_applicant=600000 + len(waves) * WAVE))

    steps = storm.run(seconds, tick)
    load.finish()
    wait_until("the storm's last members to settle (ready, every timer partition owned)",
               storm.settled, WAIT_S)
    oracle = Oracle(rig)
    violations = oracle.check()
    audit = oracle.last_signals
    summary = {**storm.summary(), "seed": seed, "seconds": seconds, "steps": len(steps),
               "signals": audit["signals"], "missed": audit["missed"],
               "repeated": audit["repeated"], "late_max_s": audit["late_max_ms"] / SPEED / 1000,
               "waiting_messages": len(waves) * WAVE,
               "refused_stale": rig.s.scalar("select count(*) from okno.refusals where "
                                             "reason_code = 'signal_stale'"),
               "refused_early_or_twice": rig.s.scalar(
                   "select count(*) from okno.refusals where reason_code in "
                   "('signal_not_due', 'signal_duplicate')"),
               "oracle_violations": len(violations)}
    print("storm: " + json.dumps(summary), flush=True)
    return summary, violations
