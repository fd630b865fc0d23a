/**
 * Which node coordinates which consumer groups: a group belongs to slot hash(group) % 64, and
 * `groupslots/<slot>` is owned in etcd. Each slot has a preferred live member (placement.ts,
 * spread evenly); the preferred node claims a slot nobody owns or whose owner died (its lease
 * expired), and an owner that is no longer preferred while the preferred one is alive (a node
 * joined) stops serving the slot and claims it for that node: so slots follow the live
 * members within a lease. A node serves a slot only once `gained` has loaded it (the groups'
 * committed offsets, from etcd) at the epoch it holds, and stops at once when etcd names
 * another owner, or when its own lease is lost. Offsets written while serving are guarded by
 * that ownership (ClusteredGroups), so a node that lost a slot cannot write for it.
 */
import { Effect } from "effect"
import type { CoordinationService, Ownership } from "../../../services/Coordination.js"
import type { ClusterNodeService } from "../ClusterNode.js"
import { OwnershipView } from "./OwnershipView.js"
import { GROUP_SLOTS, groupSlot, kafkaMembers, preferredSlotOwner } from "./placement.js"

const PREFIX = "groupslots/"
export const slotKey = (slot: number) => `${PREFIX}${slot}`

export interface SlotHooks {
  /** Loads what the slot's groups need (their committed offsets); fails to try again later. */
  readonly gained: (slot: number) => Effect.Effect<void, unknown>
  /** This node no longer coordinates the slot's groups: forget them. */
  readonly lost: (slot: number) => void
}

export class GroupSlots {
  readonly view = new OwnershipView(PREFIX)
  /** Slots this node serves, with the ownership they were loaded under. */
  private readonly served = new Map<number, Ownership>()

  constructor(
    private readonly node: ClusterNodeService,
    private readonly coordination: CoordinationService,
    private readonly hooks: SlotHooks
  ) {}

  /** The ownership under which this node coordinates `groupId` now, or null (NOT_COORDINATOR). */
  servedFor(groupId: string): Ownership | null {
    return this.served.get(groupSlot(groupId)) ?? null
  }

  /** The live member that owns `groupId`'s slot, if any (FindCoordinator). */
  coordinatorOf(groupId: string): string | undefined {
    const o = this.view.get(String(groupSlot(groupId)))
    return o !== undefined && this.node.member(o.owner) !== undefined ? o.owner : undefined
  }

  /** Slots owned, by member id (the admin API). */
  countsByNode(): Map<string, number> {
    const counts = new Map<string, number>()
    for (const o of this.view.owners.values()) counts.set(o.owner, (counts.get(o.owner) ?? 0) + 1)
    return counts
  }

  servedCount(): number {
    return this.served.size
  }

  /** Stops serving every slot (the lease was lost: others may own them by now). */
  dropAll(): void {
    for (const slot of [...this.served.keys()]) this.stop(slot)
  }

  private stop(slot: number): void {
    if (!this.served.delete(slot)) return
    this.hooks.lost(slot)
  }

  /** Brings this node's slots in line with etcd and the live members. Run by one fiber at a time. */
  reconcile(): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      const self = this.node.id
      if (this.node.membership() === null) return this.dropAll()
      if (!this.view.ready) return
      const members = kafkaMembers(this.node.members())
      const work: Array<Effect.Effect<void>> = []
      for (let slot = 0; slot < GROUP_SLOTS; slot++) {
        const o = this.view.get(String(slot))
        const preferred = preferredSlotOwner(members, slot)
        const served = this.served.get(slot)
        // A later epoch names someone else (the view may lag behind a claim of ours: never behind it).
        if (served !== undefined && o !== undefined && o.epoch > served.epoch) this.stop(slot)
        if (o !== undefined && o.owner === self) {
          if (preferred !== undefined && preferred !== self) {
            // A live member is preferred now: stop serving first, then hand it over.
            this.stop(slot)
            work.push(Effect.ignore(this.coordination.claim(slotKey(slot), preferred, o.epoch)))
          } else if (!this.served.has(slot)) {
            work.push(this.load(slot, o))
          }
        } else if (preferred === self && !this.served.has(slot) && (o === undefined || this.node.member(o.owner) === undefined)) {
          work.push(Effect.ignore(Effect.flatMap(this.coordination.claim(slotKey(slot), self, o?.epoch ?? 0), (mine) => this.load(slot, mine))))
        }
      }
      if (work.length > 0) yield* Effect.all(work, { concurrency: 8, discard: true })
    })
  }

  private load(slot: number, ownership: Ownership): Effect.Effect<void> {
    return this.hooks.gained(slot).pipe(
      Effect.map(() => {
        // Served only if etcd still names this node at that epoch (the view may have moved on meanwhile).
        const now = this.view.get(String(slot))
        if (now === undefined || now.epoch < ownership.epoch || (now.owner === ownership.owner && now.epoch === ownership.epoch)) {
          this.served.set(slot, ownership)
        }
      }),
      Effect.catchAll((e) => Effect.logWarning(`cluster: loading group slot ${slot} failed (${e instanceof Error ? e.message : String(e)}); trying again`))
    )
  }
}
