/**
 * A local plugin: copies `custom.emr.deployRules` (infra/emr.js) into the template's `Rules`, which
 * serverless.yml's `resources` cannot hold (osls's config schema rejects the key). CloudFormation evaluates
 * Rules before it creates or updates anything, so a failed assertion stops a deploy with its message.
 */
class TemplateRules {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = { 'before:package:finalize': () => this.addRules() };
  }

  addRules() {
    const rules = this.serverless.service.custom?.emr?.deployRules ?? {};
    const template = this.serverless.service.provider.compiledCloudFormationTemplate;
    for (const name of Object.keys(rules)) {
      if (template.Rules?.[name]) throw new Error(`template rule ${name} is defined twice`);
    }
    if (Object.keys(rules).length > 0) template.Rules = { ...template.Rules, ...rules };
  }
}

module.exports = TemplateRules;
