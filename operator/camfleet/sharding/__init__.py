"""Sharded replicas (`camfleet run --sharding`): each camera belongs to one live replica at a time.

- `membership`: each replica holds a Lease `camfleet-shard-<id>`; the live members are the unexpired ones.
- `assignment`: rendezvous hashing of cameras over the live members, and the label change that moves a camera
  (directly from a dead member, through a drain handshake from a live one).
- `election`: one Lease-elected replica runs the sharder and the access controllers.
- `sharder`: the elected replica's loop writing `shard.camfleet.io/replica` on every camera.
- `slice_member`: a replica's side of the drain handshake.
"""
