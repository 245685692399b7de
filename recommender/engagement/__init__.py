"""Customer engagement: segments, loyalty, triggers and the push policy (issue 4).

Pure modules take time as an argument and touch no I/O; only ``gate`` talks to Redis.

    terms     the closed vocabularies (offer kinds, lifecycle stages, value tiers, reasons)
    config    EngagementPolicy: every threshold, read from Settings.engagement
    state     CustomerState: the per-user ledger summary the stream maintains
    codec     CustomerState <-> compact bytes for Redis
    segments  RFM scores, value tier, lifecycle stage and its transitions
    loyalty   points per booking, membership tier, reversal on cancellation
    signals   clicks, feedback, consent and sent offers applied to the state
    localtime day keys and quiet hours in the user's time zone (DST-safe)
    offers    Candidate offers, deterministic offer ids, the outbound Offer
    policy    decide(): the one push policy for every kind
    triggers  price drop, reactivation, cross-sell, abandoned search
    gate      PushGate: decide, then reserve atomically in Redis (gate.lua)
"""
