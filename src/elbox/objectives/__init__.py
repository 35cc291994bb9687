"""Training objectives (ELBO, capacity, beta-TC), their KL terms and KL-weight schedules."""
