/** The EMR operations the emulator serves; a throttle fault may name only these. */
export const EMR_OPERATIONS = [
  'RunJobFlow',
  'DescribeCluster',
  'ListClusters',
  'TerminateJobFlows',
  'AddJobFlowSteps',
  'DescribeStep',
  'ListSteps',
  'CancelSteps',
  'ListInstanceFleets',
  'ListInstances',
  'AddTags',
  'GetAutoTerminationPolicy',
  'ListBootstrapActions',
  'ListInstanceGroups',
  'PutManagedScalingPolicy',
  'GetManagedScalingPolicy',
  'RemoveManagedScalingPolicy',
] as const;
export type EmrOperation = (typeof EMR_OPERATIONS)[number];
