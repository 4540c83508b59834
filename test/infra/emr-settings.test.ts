/**
 * infra/emr.js: the stage params that choose EMR subnets and whether the stack creates the EMR roles.
 */
const { subnetIds, roles } = require('../../infra/emr.js');

/** osls's resolveVariable for `param:<name>`, answering from a map (unset params resolve to null). */
const params = (values: Record<string, unknown>) => ({
  resolveVariable: async (variable: string) => (variable === 'sls:stage' ? 'dev' : (values[variable.replace(/^param:/, '')] ?? null)),
});

describe('EMR settings from stage params', () => {
  it('reads subnets from a YAML list or a comma-separated --param string', async () => {
    expect(await subnetIds(params({ emrSubnetIds: ['subnet-a', 'subnet-b'] }))).toEqual(['subnet-a', 'subnet-b']);
    expect(await subnetIds(params({ emrSubnetIds: 'subnet-a, subnet-b,' }))).toEqual(['subnet-a', 'subnet-b']);
    expect(await subnetIds(params({ emrSubnetIds: [] }))).toEqual([]);
  });

  it('creates the service role, instance role and instance profile when no existing role is named', async () => {
    // Act
    const fragment = await roles(params({ emrServiceRole: '', emrInstanceProfile: '', emrInstanceRole: '' }));

    // Assess
    expect(Object.keys(fragment)).toEqual(['Resources']);
    expect(Object.keys(fragment.Resources).sort()).toEqual(['EmrInstanceProfile', 'EmrInstanceRole', 'EmrServiceRole']);
    expect(fragment.Resources.EmrInstanceProfile.Properties.Roles).toEqual([{ Ref: 'EmrInstanceRole' }]);
    expect(fragment.Resources.EmrInstanceProfile.Properties.InstanceProfileName).toEqual(fragment.Resources.EmrInstanceRole.Properties.RoleName);
  });

  it('turns named existing roles into template parameters under the same logical ids', async () => {
    // Act
    const fragment = await roles(
      params({ emrServiceRole: 'EMR_DefaultRole_V2', emrInstanceProfile: 'EMR_EC2_DefaultRole', emrInstanceRole: 'EMR_EC2_DefaultRole' }),
    );

    // Assess
    expect(Object.keys(fragment)).toEqual(['Parameters']);
    expect(fragment.Parameters.EmrServiceRole).toEqual(expect.objectContaining({ Type: 'String', Default: 'EMR_DefaultRole_V2' }));
    expect(fragment.Parameters.EmrInstanceProfile.Default).toBe('EMR_EC2_DefaultRole');
    expect(fragment.Parameters.EmrInstanceRole.Default).toBe('EMR_EC2_DefaultRole');
  });

  it('refuses a partial set of existing roles', async () => {
    await expect(roles(params({ emrServiceRole: 'EMR_DefaultRole_V2' }))).rejects.toThrow(
      'emrServiceRole, emrInstanceProfile and emrInstanceRole are set together or not at all',
    );
  });
});
