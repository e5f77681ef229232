// Moddle extension for the SpiffWorkflow namespace, so bpmn-js reads, edits and writes back the
// extension elements our engine understands (engine/validation.py, SpiffBpmnParser) instead of dropping them.
// Element names are the XML tag names (tagAlias lowerCase: ServiceTaskOperator <-> serviceTaskOperator).
(function () {
  'use strict';
  const attr = (name) => ({ name, type: 'String', isAttr: true });
  const body = (name) => ({ name, superClass: ['Element'], properties: [{ name: 'value', type: 'String', isBody: true }] });
  const many = (name, type) => ({ name, type, isMany: true });

  window.SpiffModdle = {
    name: 'SpiffWorkflow',
    uri: 'http://spiffworkflow.org/bpmn/schema/1.0/core',
    prefix: 'spiffworkflow',
    xml: { tagAlias: 'lowerCase' },
    associations: [],
    types: [
      // user tasks: <spiffworkflow:properties><spiffworkflow:property name value/></spiffworkflow:properties>
      { name: 'Properties', superClass: ['Element'], properties: [many('properties', 'Property')] },
      { name: 'Property', superClass: ['Element'], properties: [attr('name'), attr('value')] },
      // service tasks: <spiffworkflow:serviceTaskOperator id resultVariable><spiffworkflow:parameters>…
      { name: 'ServiceTaskOperator', superClass: ['Element'],
        properties: [attr('id'), attr('resultVariable'), { name: 'parameters', type: 'Parameters' },
                     { name: 'retry', type: 'Retry' }] },
      { name: 'Retry', superClass: ['Element'], properties: [attr('retries'), attr('backoff_base')] },
      { name: 'Parameters', superClass: ['Element'], properties: [many('parameters', 'Parameter')] },
      { name: 'Parameter', superClass: ['Element'], properties: [attr('id'), attr('type'), attr('value')] },
      // business rule tasks, scripts and texts (element body)
      body('CalledDecisionId'), body('PreScript'), body('PostScript'), body('InstructionsForEndUser'),
      body('MessagePayload'), body('MessageVariable'), body('PayloadExpression'), body('VariableName'),
      body('Category'), body('PropertyId'), body('Expression'), body('InputJson'), body('ExpectedOutputJson'),
      { name: 'ProcessVariableCorrelation', superClass: ['Element'],
        properties: [{ name: 'propertyId', type: 'PropertyId' }, { name: 'expression', type: 'Expression' }] },
      { name: 'UnitTests', superClass: ['Element'], properties: [many('unitTests', 'UnitTest')] },
      { name: 'UnitTest', superClass: ['Element'],
        properties: [attr('id'), { name: 'inputJson', type: 'InputJson' },
                     { name: 'expectedOutputJson', type: 'ExpectedOutputJson' }] },
      { name: 'TaskMetadataValues', superClass: ['Element'], properties: [many('values', 'TaskMetadataValue')] },
      { name: 'TaskMetadataValue', superClass: ['Element'], properties: [attr('name'), attr('value')] },
      // attributes SpiffWorkflow reads on standard BPMN elements
      { name: 'MatchingCorrelation', isAbstract: true,
        extends: ['bpmn:ReceiveTask', 'bpmn:IntermediateCatchEvent', 'bpmn:StartEvent', 'bpmn:BoundaryEvent'],
        properties: [attr('isMatchingCorrelation')] },
      { name: 'ScriptsOnInstances', isAbstract: true, extends: ['bpmn:MultiInstanceLoopCharacteristics'],
        properties: [attr('scriptsOnInstances')] },
    ],
    enumerations: [],
  };
})();
