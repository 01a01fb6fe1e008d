"""A rebalance storm (issue 14, scenario 2): ledger and timer instances join and leave their
consumer groups every few seconds (cooperative-sticky assignment), some leaving gracefully
(SIGTERM), some killed (SIGKILL). The plan is a pure function of the seed, so a seed replays the
same storm; Storm applies it to a rig whose ledger and timer are already running.

    storm = Storm(rig, seed)            # takes rig.procs["ledger"] and ["timer"] as members
    storm.run(seconds, tick=...)        # the plan's steps at their times; tick() in between
    storm.summary()                     # joins, leaves, deadlines handed over ..."""
import json
import random
import signal
import time

from faults import BUILD

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

    def step(self, service, action, index):
        members = self.members[service]
        if action == "join":
            members.append(self.rig.spawn(service, wait_ready=False))
        else:
            proc = members.pop(index)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM if action == "leave" else signal.SIGKILL)
                proc.wait(60)
        self.rig.procs[service] = members[0]
        self.done[action] += 1

    def run(self, duration_s, tick=None, every_s=0.5):
        """Applies plan(seed, duration_s) in real time; tick(seconds from the start) between
        steps. Returns the plan."""
        steps = plan(self.seed, duration_s)
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
        rebuilt = self.rebuilds()
        return {"joins": self.done["join"], "leaves": self.done["leave"],
                "kills": self.done["kill"],
                "rebalances": sum(self.done.values()),
                "timer_partition_gains": max(0, len(rebuilt) - 1),
                # every gain after the first timer's start hands the partitions' open messages,
                # each with its armed deadline, to a new owner
                "deadlines_handed_over": sum(int(r.get("heads", 0)) for r in rebuilt[1:])}

