"""The stateful trainers: `VAETrainer` (the documented API) and `LossFnTrainer`, each
owning an `Engine` (the state between steps, the compiled steps, donation, the mesh)."""
