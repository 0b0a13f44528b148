"""IP address management: pools of subnets and the addresses inside them."""
